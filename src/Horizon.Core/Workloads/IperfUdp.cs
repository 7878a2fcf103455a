using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using Horizon.Config;

namespace Horizon.Workloads;

/// <summary>
/// Study §5.4 / §6.1.7–6.1.8: a unidirectional UDP flow of 1472-byte payloads between the guest and the network peer
/// (iperf3). Throughput, loss and jitter come from iperf3's JSON; rounds are still bracketed by probes.
/// </summary>
public sealed class IperfUdpWorkload : WorkloadDefinition
{
    public override string Name => "iperf-udp";

    public override string Description => "network: iperf3 UDP flow guest→peer or peer→guest";

    public override string StudySection => "5.4";

    public override ImmutableArray<ParameterDefinition> Parameters { get; } =
    [
        new("direction", ParameterKind.Text, "guest-to-peer", "guest-to-peer (the guest sends, §6.1.7) or peer-to-guest (the guest receives, §6.1.8)"),
        new("rate", ParameterKind.Text, "300M", "offered rate (iperf3 -b); 0 = as fast as possible. A fixed rate measures the platform, not the receiver's CPU"),
        new("duration", ParameterKind.Duration, "10s", "length of the flow per round"),
        new("length", ParameterKind.Integer, "1472", "UDP payload bytes (1472: no IP fragmentation on Ethernet)", 16),
        new("window", ParameterKind.Size, "4M", "socket buffer (iperf3 -w)", 4096),
        new("port", ParameterKind.Integer, "5201", "iperf3 server port on the peer", 1),
    ];

    public override ImmutableArray<ToolRequirement> Tools => [new("iperf3", "command -v iperf3", "iperf3")];

    public override Metric PrimaryMetric { get; } = new("throughput_mbps", "Mbit/s", true);

    public override bool ReportsOutput => true;

    public override bool NeedsPeer => true;

    public override WorkloadScripts Build(WorkloadSpec spec) => throw new TestbedException("iperf-udp needs the testbed's network peer");

    public override WorkloadScripts Build(WorkloadSpec spec, WorkloadContext context)
    {
        var peer = context.PeerAddress ?? throw new TestbedException("iperf-udp needs a 'peer' in the testbed (the network tests computer)");
        var direction = spec.Get("direction") switch
        {
            "guest-to-peer" => "",
            "peer-to-guest" => " -R",
            var other => throw new ArgumentException($"direction must be guest-to-peer or peer-to-guest, got '{other}'"),
        };
        var seconds = spec.GetDuration("duration").TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
        return new WorkloadScripts(
            Prepare: "",
            BeforeRound: "",
            // One iperf3 server serves one test at a time: concurrent guests each talk to their own, port + guest index.
            Round: $"iperf3 -c {Quote(peer)} -p $(( {spec.GetLong("port")} + ${{HZ_GUEST_INDEX:-0}} )) -u -l {spec.GetLong("length")} -b {Quote(spec.Get("rate"))} -w {spec.GetLong("window")} -t {seconds}{direction} -J",
            Cleanup: "",
            KitFiles: ImmutableDictionary<string, string>.Empty) { ReportOutput = true };
    }

    /// <summary>One server per guest that runs the experiment at once (ports port … port + guests − 1).</summary>
    public override IEnumerable<PeerService> PeerServices(WorkloadSpec spec, WorkloadContext context) =>
        Enumerable.Range(0, Math.Max(1, context.Guests)).Select(i => Server(spec.GetLong("port") + i));

    public override PeerService Peer(WorkloadSpec spec) => Server(spec.GetLong("port"));

    private static PeerService Server(long port)
    {
        // Supervised: an iperf3 server exits on some client errors; a failed round must not fail every round after it.
        var pidFile = $"/tmp/horizon-iperf3-{port}.pid";
        return new PeerService(
            $"setsid bash -c 'while :; do iperf3 -s -p {port} > /dev/null 2>&1; sleep 0.2; done' < /dev/null > /dev/null 2>&1 & echo $! > {pidFile}; sleep 0.5; kill -0 $(cat {pidFile})",
            $"[ -f {pidFile} ] && kill -TERM -- -$(cat {pidFile}) 2>/dev/null; rm -f {pidFile}; true",
            $"iperf3 server on port {port}");
    }

    public override IReadOnlyDictionary<string, double> ParseOutput(WorkloadSpec spec, string output)
    {
        // iperf3 may print warnings (to stderr, captured with the output) before its JSON document.
        var start = output.IndexOf("\n{", StringComparison.Ordinal) is var i and >= 0 && !output.StartsWith('{') ? i + 1 : 0;
        using var doc = JsonDocument.Parse(output[start..]);
        var root = doc.RootElement;
        if (root.TryGetProperty("error", out var error))
        {
            throw new FormatException($"iperf3: {error.GetString()}");
        }

        var end = root.GetProperty("end");
        // The receiver's view is the throughput that arrived; the sender's shows what was offered.
        var received = end.TryGetProperty("sum_received", out var r) ? r : end.GetProperty("sum");
        var sent = end.TryGetProperty("sum_sent", out var s) ? s : end.GetProperty("sum");
        var sum = end.GetProperty("sum");
        return new Dictionary<string, double>
        {
            ["throughput_mbps"] = received.GetProperty("bits_per_second").GetDouble() / 1e6,
            ["sent_mbps"] = sent.GetProperty("bits_per_second").GetDouble() / 1e6,
            ["loss_percent"] = sum.TryGetProperty("lost_percent", out var l) ? l.GetDouble() : 0,
            ["jitter_ms"] = sum.TryGetProperty("jitter_ms", out var j) ? j.GetDouble() : 0,
        };
    }
}
