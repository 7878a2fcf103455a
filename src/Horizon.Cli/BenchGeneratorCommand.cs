using System.ComponentModel;
using System.Globalization;
using Horizon.Lab;
using Horizon.Workloads;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Horizon.Cli;

/// <summary>
/// The forward workload's traffic generator on this machine with no guest in between: what the project's fwdgen
/// (sendmmsg/recvmmsg, one sender and one receiver thread) reaches per RFC 2544 frame size, as fast as it can and as a
/// zero-loss search, next to iperf3 over the same link. Results through a guest are only meaningful below this ceiling.
/// </summary>
public sealed class BenchGeneratorCommand : AsyncCommand<BenchGeneratorCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--trial <SECONDS>")]
        [Description("Length of each trial in seconds (default 2).")]
        public double Trial { get; init; } = 2;

        [CommandOption("--frames <LIST>")]
        [Description("Frame sizes in bytes, comma-separated (default 64,512,1518).")]
        public string Frames { get; init; } = "64,512,1518";
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var frames = settings.Frames.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(f => int.Parse(f, CultureInfo.InvariantCulture)).ToList();
        if (frames.Any(f => f is < 64 or > 1518) || settings.Trial is < 0.1 or > 60)
        {
            return Render.Error("--frames must be 64..1518 bytes and --trial 0.1..60 s");
        }

        AnsiConsole.MarkupLine($"[bold]horizon bench generator[/] — {Environment.ProcessorCount} cores, {Markup.Escape(System.Runtime.InteropServices.RuntimeInformation.OSDescription)}; source and sink in two namespaces joined by a veth pair");
        var ms = (int)(settings.Trial * 1000);
        var table = new Table().AddColumns("frame B", "fwdgen max f/s", "fwdgen zero-loss f/s", "fwdgen Mbit/s", "iperf3 sent f/s", "iperf3 received f/s", "faster here");
        await using var pair = await GeneratorPair.CreateAsync(null, cancellationToken);
        foreach (var frame in frames)
        {
            var blast = ForwardWorkload.ParseResult(await pair.RunAsync($"trial dst={ForwardWorkload.DirectBase} frame={frame} ms={ms} rate=0", cancellationToken));
            var search = ForwardWorkload.ParseResult(await pair.RunAsync($"search dst={ForwardWorkload.DirectBase} frame={frame} ms={ms} max=0 precision=0.02", cancellationToken));
            var iperf = await pair.IperfAsync(frame - 46, TimeSpan.FromSeconds(settings.Trial), cancellationToken);
            static string F(double pps) => pps.ToString("N0", CultureInfo.InvariantCulture);
            var fwdgen = blast["trial01.forwarded_pps"];
            table.AddRow(frame.ToString(CultureInfo.InvariantCulture),
                $"{F(fwdgen)} ({blast["trial01.loss_percent"]:0.#} % lost)",
                F(search["throughput_pps"]),
                (search["throughput_pps"] * frame * 8 / 1e6).ToString("N0", CultureInfo.InvariantCulture),
                iperf is { } a ? F(a.SentPps) : "not installed",
                iperf is { } b ? $"{F(b.ReceivedPps)} ({100 * (1 - (b.ReceivedPps / b.SentPps)):0.#} % lost)" : "-",
                iperf is { } c && c.ReceivedPps > fwdgen ? $"iperf3 (+{100 * ((c.ReceivedPps / fwdgen) - 1):0} %)" : "fwdgen");
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("[grey]frame = Ethernet frame with FCS (UDP payload = frame - 46); Mbit/s counts frame bits of the zero-loss rate. \"faster here\" compares what reaches the sink when each sends as fast as it can. The forward workload uses fwdgen whatever this says: it needs destinations cycled over N routes, per-frame one-way latency, per-trial tags and the zero-loss search, which iperf3 does not do; it measures fwdgen's ceiling on each guest's path before its rounds and reports it next to every result.[/]");
        return 0;
    }
}
