using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.ComponentModel;
using System.Net.Sockets;
using System.Net;
using Horizon.Grains;
using Horizon.Probes;
using Horizon.Results;
using Horizon.Scheduler;
using Horizon.Timing;
using Spectre.Console.Cli;
using Spectre.Console;

namespace Horizon.Cli;

/// <summary>
/// Plays N guests sending real authenticated probes on loopback, through the timing service into the experiment grains
/// and the results store, and reports what that path costs as N grows. Bounded: it sends a fixed schedule and stops.
/// </summary>
public sealed class BenchScaleCommand : AsyncCommand<BenchScaleCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--guests <LIST>")]
        [Description("Guest counts to try (default 100,1000,10000).")]
        public string Guests { get; init; } = "100,1000,10000";

        [CommandOption("--rounds <N>")]
        [Description("Rounds per guest (default 3).")]
        public int Rounds { get; init; } = 3;

        [CommandOption("--figure <DIR>")]
        [Description("Directory for the cost-vs-guests figure (bench-scale.png/.svg; default .horizon/figures).")]
        public string Figure { get; init; } = Path.Combine(".horizon", "figures");

        [CommandOption("--round-seconds <S>")]
        [Description("Length of a round; guests start staggered over it (default 2).")]
        public double RoundSeconds { get; init; } = 2;
    }

    private const int GuestsPerExperiment = 100;

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var table = new Table().AddColumns("guests", "probes sent", "accepted", "lost", "rounds recorded", "probe rate /s", "arrival→recorded p50", "p99", "max", "memory / guest", "writes / commit");
        var points = new List<(int, double, double, double, double)>();
        foreach (var n in settings.Guests.Split(',').Select(int.Parse))
        {
            var r = await RunAsync(n, settings.Rounds, settings.RoundSeconds, cancellationToken);
            points.Add((n, r.P50, r.P99, r.Max, r.BytesPerGuest / 1024.0));
            table.AddRow(n.ToString("N0"), r.Sent.ToString("N0"), r.Accepted.ToString("N0"), (r.Sent - r.Accepted).ToString("N0"), $"{r.Recorded:N0} / {n * settings.Rounds:N0}",
                r.Rate.ToString("N0"), Ms(r.P50), Ms(r.P99), Ms(r.Max), $"{r.BytesPerGuest / 1024.0:0.0} KiB", r.WritesPerCommit.ToString("0.0"));
            Console.WriteLine($"guests={n} probes_sent={r.Sent} accepted={r.Accepted} lost={r.Sent - r.Accepted} rounds_recorded={r.Recorded}/{n * settings.Rounds} " +
                $"probe_rate={r.Rate:0}/s arrival_to_recorded_p50={Ms(r.P50)} p99={Ms(r.P99)} max={Ms(r.Max)} memory_per_guest={r.BytesPerGuest / 1024.0:0.0}KiB writes_per_commit={r.WritesPerCommit:0.0}");
        }

        AnsiConsole.Write(table);
        var figure = Figures.StudyFigures.ScaleCost(points, settings.Figure);
        Console.WriteLine($"figure: {figure.PngPath} and {figure.SvgPath}");
        AnsiConsole.MarkupLine("[grey]delay = from the end probe's kernel arrival stamp to the experiment grain having recorded the round (SQLite store included); memory = managed heap growth over the run per guest (timing state, grains and their state)[/]");
        return 0;
    }

    private sealed record Result(long Sent, long Accepted, int Recorded, double Rate, double P50, double P99, double Max, double BytesPerGuest, double WritesPerCommit);

    private static async Task<Result> RunAsync(int guests, int rounds, double roundSeconds, CancellationToken ct)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"horizon-bench-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            await using var controller = await EmbeddedController.StartAsync(Path.Combine(dir, "horizon.db"), new IPEndPoint(IPAddress.Loopback, 0), false, null, ct);
            GC.Collect();
            var heapBefore = GC.GetTotalMemory(true);
            var experiments = (guests + GuestsPerExperiment - 1) / GuestsPerExperiment;
            var sessions = new List<(Guid Id, byte[] Key, int Guests, ExperimentTiming Timing, IExperimentGrain Grain)>();
            for (var e = 0; e < experiments; e++)
            {
                var count = Math.Min(GuestsPerExperiment, guests - (e * GuestsPerExperiment));
                var id = Guid.NewGuid();
                var definition = new ExperimentDefinition(id, "bench-scale", $"bench-{e}", "command", ImmutableSortedDictionary<string, string>.Empty,
                    [.. Enumerable.Range(0, count).Select(g => $"g{(e * GuestsPerExperiment) + g}")], [.. Enumerable.Repeat("native", count)], "default",
                    rounds, rounds, null, 60, e);
                var grain = controller.Grains.GetGrain<IExperimentGrain>(id);
                await grain.Define(definition);
                await grain.ReserveRounds(rounds);
                var key = ProbeFormat.NewKey();
                sessions.Add((id, key, count, controller.Timing.Register(id, key, count, 0, rounds, TimeSpan.FromMinutes(2)), grain));
            }


            // Every probe of the run, in send order: guest g starts round r at (r + g/N) × length, ends half a length later.
            var schedule = new List<(long AtNs, byte[] Probe)>(guests * rounds * 2);
            var lengthNs = (long)(roundSeconds * 1e9);
            for (var s = 0; s < sessions.Count; s++)
            {
                for (var g = 0; g < sessions[s].Guests; g++)
                {
                    var global = (s * GuestsPerExperiment) + g;
                    for (var r = 0; r < rounds; r++)
                    {
                        var start = (r * lengthNs) + (lengthNs * global / guests);
                        schedule.Add((start, ProbeFormat.Encode(new ProbeHeader(ProbePhase.Start, 0, sessions[s].Id, (uint)g, (uint)r), sessions[s].Key)));
                        schedule.Add((start + (lengthNs / 2), ProbeFormat.Encode(new ProbeHeader(ProbePhase.End, 0, sessions[s].Id, (uint)g, (uint)r), sessions[s].Key)));
                    }
                }
            }

            schedule.Sort((a, b) => a.AtNs.CompareTo(b.AtNs));
            var delays = new ConcurrentBag<double>();
            var recorded = 0;
            var consumers = sessions.Select(s => Task.Run(async () =>
            {
                var done = 0;
                while (done < s.Guests * rounds)
                {
                    // Whatever has concluded since the last call goes to the grain in one call (one commit, one state write).
                    var batch = ImmutableArray.CreateBuilder<(RoundRecord Record, long? End)>();
                    var first = await s.Timing.Results.ReadAsync(ct).AsTask().WaitAsync(TimeSpan.FromMinutes(3), ct);
                    batch.Add(Convert(s.Id, first));
                    while (batch.Count < 512 && s.Timing.Results.TryRead(out var more))
                    {
                        batch.Add(Convert(s.Id, more));
                    }

                    await s.Grain.RecordMany([.. batch.Select(b => b.Record)]);
                    var now = controller.Timing.Clock.MonotonicNs();
                    foreach (var b in batch)
                    {
                        if (b.End is { } end)
                        {
                            delays.Add((now - end) / 1e6);
                        }
                    }

                    done += batch.Count;
                    Interlocked.Add(ref recorded, batch.Count);
                }
            }, ct)).ToList();

            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Connect(controller.Timing.LocalEndPoint);
            var before = controller.Timing.Counters.Accepted;
            var t0 = controller.Timing.Clock.MonotonicNs();
            foreach (var (at, probe) in schedule)
            {
                while (controller.Timing.Clock.MonotonicNs() - t0 < at)
                {
                    Thread.SpinWait(20);
                }

                socket.Send(probe);
            }

            var sendSeconds = (controller.Timing.Clock.MonotonicNs() - t0) / 1e9;
            try
            {
                await Task.WhenAll(consumers);
            }
            catch (TimeoutException)
            {
                // Lost probes leave rounds that never conclude within the bench's bound; the table says how many.
            }

            // Everything held for the run's guests: timing state, grain activations and their state, queued results.
            var heapAfter = GC.GetTotalMemory(true);
            var (commits, writes) = controller.Store.WriteCounters;
            var sorted = delays.Order().ToList();
            double Pct(double p) => sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)(p * (sorted.Count - 1)))];
            foreach (var s in sessions)
            {
                s.Timing.Dispose();
            }

            return new Result(schedule.Count, controller.Timing.Counters.Accepted - before, recorded, schedule.Count / sendSeconds,
                Pct(0.5), Pct(0.99), sorted.Count == 0 ? double.NaN : sorted[^1], (heapAfter - heapBefore) / (double)guests, commits == 0 ? double.NaN : writes / (double)commits);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static (RoundRecord Record, long? End) Convert(Guid experiment, RoundTiming t) =>
        (new RoundRecord(experiment, (int)t.Guest, $"g{t.Guest}", (int)t.Round,
            t.Status == RoundOutcome.Measured ? RoundOutcome.Measured : RoundOutcome.Failed, t.Seconds, null, null, 0, t.Reason,
            DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()), t.EndArrivalNs);

    private static string Ms(double ms) => double.IsNaN(ms) ? "—" : ms < 10 ? $"{ms:0.00} ms" : $"{ms:0} ms";
}
