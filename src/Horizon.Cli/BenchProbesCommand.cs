using System.ComponentModel;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Horizon.Probes;
using Horizon.Timing;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Horizon.Cli;

/// <summary>
/// Measures Horizon's own probe path: (a) delay from a sender's send call to the arrival time the timing service records
/// (sender and receiver share CLOCK_MONOTONIC here), idle and with every core busy, kernel vs managed stamps;
/// (b) the highest authenticated-probe rate ingested with no loss.
/// </summary>
public sealed class BenchProbesCommand : Command<BenchProbesCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--probes <N>")]
        [Description("Probes per delay measurement (default 3000).")]
        public int Probes { get; init; } = 3000;

        [CommandOption("--max-rate <N>")]
        [Description("Highest offered rate tried, probes/s (default 800000).")]
        public int MaxRate { get; init; } = 800_000;
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        AnsiConsole.MarkupLine($"[bold]horizon bench probes[/] — {Environment.ProcessorCount} cores, {Markup.Escape(System.Runtime.InteropServices.RuntimeInformation.OSDescription)}");
        var table = new Table().AddColumns("timestamps", "load", "probes", "received", "median µs", "p99 µs", "max µs");
        foreach (var managed in new[] { false, true })
        {
            foreach (var busy in new[] { false, true })
            {
                var (sent, delays) = MeasureDelay(settings.Probes, managed, busy);
                delays.Sort();
                table.AddRow(
                    managed ? "managed" : "kernel",
                    busy ? $"{Environment.ProcessorCount} busy" : "idle",
                    sent.ToString(), delays.Count.ToString(),
                    Us(Pct(delays, 0.5)), Us(Pct(delays, 0.99)), Us(delays.Count > 0 ? delays[^1] : double.NaN));
            }
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("[grey]kernel = SO_TIMESTAMPNS receive stamps moved to the monotonic timeline; managed = a monotonic clock read after the receive call returns[/]");
        var rates = new Table().AddColumns("offered probes/s", "sent", "accepted", "lost", "achieved send rate/s");
        var best = 0.0;
        for (var rate = 25_000; rate <= settings.MaxRate; rate *= 2)
        {
            var r = MeasureRate(rate, TimeSpan.FromSeconds(1));
            rates.AddRow(rate.ToString("N0"), r.Sent.ToString("N0"), r.Accepted.ToString("N0"), (r.Sent - r.Accepted).ToString("N0"), r.AchievedRate.ToString("N0"));
            if (r.Sent == r.Accepted)
            {
                best = Math.Max(best, r.AchievedRate);
            }
        }

        AnsiConsole.Write(rates);
        AnsiConsole.MarkupLine($"highest lossless authenticated-probe rate: [bold]{best:N0} probes/s[/] (one sender thread; HMAC verified, replay-checked, paired)");
        return 0;
    }

    private static (int Sent, List<double> DelaysNs) MeasureDelay(int probes, bool managed, bool busy)
    {
        var loaders = busy ? StartBusyLoops(Environment.ProcessorCount, TimeSpan.FromSeconds(60)) : [];
        try
        {
            using var service = new TimingService(new IPEndPoint(IPAddress.Loopback, 0), forceManagedTimestamps: managed);
            var experiment = Guid.NewGuid();
            var key = ProbeFormat.NewKey();
            using var session = service.Register(experiment, key, 1, 0, probes, TimeSpan.FromMinutes(5));
            var sendTimes = new long[probes];
            var arrivals = new long[probes];
            service.AcceptedProbeObserver = (h, arrival) =>
            {
                if (h.Phase == ProbePhase.Start)
                {
                    arrivals[h.Round] = arrival;
                }
            };
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Connect(service.LocalEndPoint);
            var datagram = new byte[ProbeFormat.Size];
            for (var i = 0; i < probes; i++)
            {
                ProbeFormat.Encode(new ProbeHeader(ProbePhase.Start, 0, experiment, 0, (uint)i), key, datagram);
                sendTimes[i] = service.Clock.MonotonicNs();
                socket.Send(datagram);
                SpinFor(TimeSpan.FromMicroseconds(300));
            }

            Thread.Sleep(300);
            var delays = new List<double>();
            for (var i = 0; i < probes; i++)
            {
                if (arrivals[i] != 0)
                {
                    delays.Add(arrivals[i] - sendTimes[i]);
                }
            }

            return (probes, delays);
        }
        finally
        {
            StopBusyLoops(loaders);
        }
    }

    private static (long Sent, long Accepted, double AchievedRate) MeasureRate(int rate, TimeSpan duration)
    {
        using var service = new TimingService(new IPEndPoint(IPAddress.Loopback, 0));
        var experiment = Guid.NewGuid();
        var key = ProbeFormat.NewKey();
        var total = (int)(rate * duration.TotalSeconds);
        using var session = service.Register(experiment, key, 1, 0, (total / 2) + 1, TimeSpan.FromMinutes(5));
        var datagrams = new byte[total][];
        for (var i = 0; i < total; i++)
        {
            datagrams[i] = ProbeFormat.Encode(new ProbeHeader(i % 2 == 0 ? ProbePhase.Start : ProbePhase.End, 0, experiment, 0, (uint)(i / 2)), key);
        }

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Connect(service.LocalEndPoint);
        var before = service.Counters.Accepted;
        var start = Stopwatch.GetTimestamp();
        var perTick = rate / (double)Stopwatch.Frequency;
        for (var i = 0; i < total; i++)
        {
            // Pace: never ahead of the offered rate.
            while ((Stopwatch.GetTimestamp() - start) * perTick < i)
            {
            }

            socket.Send(datagrams[i]);
        }

        var elapsed = Stopwatch.GetElapsedTime(start);
        var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency;
        while (service.Counters.Accepted - before < total && Stopwatch.GetTimestamp() < deadline)
        {
            Thread.Sleep(20);
        }

        return (total, service.Counters.Accepted - before, total / elapsed.TotalSeconds);
    }

    private static List<Process> StartBusyLoops(int count, TimeSpan limit)
    {
        var list = new List<Process>();
        for (var i = 0; i < count; i++)
        {
            // Bounded: each loop ends by itself after the limit even if this process dies.
            var p = Process.Start(new ProcessStartInfo("timeout", [((int)limit.TotalSeconds).ToString(), "bash", "-c", "while :; do :; done"]) { UseShellExecute = false });
            if (p is not null)
            {
                list.Add(p);
            }
        }

        Thread.Sleep(200);
        return list;
    }

    private static void StopBusyLoops(List<Process> loops)
    {
        foreach (var p in loops)
        {
            try
            {
                p.Kill(entireProcessTree: true);
                p.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
            }

            p.Dispose();
        }
    }

    private static void SpinFor(TimeSpan t)
    {
        var end = Stopwatch.GetTimestamp() + (long)(t.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < end)
        {
        }
    }

    private static double Pct(List<double> sorted, double p) => sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Floor(p * (sorted.Count - 1)))];

    private static string Us(double ns) => double.IsNaN(ns) ? "—" : (ns / 1000).ToString("0.0");
}
