using System.Collections.Immutable;
using System.Globalization;
using Horizon.Config;

namespace Horizon.Workloads;

/// <summary>
/// What a virtual router does: the guest forwards UDP from a source to a sink, each on its own link to the guest
/// (RFC 2544 style). Each round is one zero-loss throughput search (RFC 2544 §26.1, binary search on the offered rate)
/// or one trial at a fixed rate; the guest asks the network peer's generator (fwdgen, compiled there) for it and
/// relays the answer, so the round is still bracketed by the guest's probes. The prepare step turns forwarding on,
/// installs the routes (the routing-table scale) and measures the generator's own ceiling on the peer's direct link
/// between source and sink — no guest in between — which every round reports next to the guest's figure.
/// </summary>
public sealed class ForwardWorkload : WorkloadDefinition
{
    /// <summary>Destinations behind the guest: RFC 2544's own benchmarking range (198.18.0.0/15), one /32 route each.</summary>
    public const string RoutedBase = "198.18.0.0";

    public const int MaxRoutes = 131072;

    /// <summary>Destinations of the peer's direct source→sink link (TEST-NET-1): the generator's ceiling.</summary>
    public const string DirectBase = "192.0.2.1";

    /// <summary>The routing protocol number the workload's routes carry, so cleanup removes exactly them.</summary>
    public const int RouteProtocol = 199;

    /// <summary>Shared by the experiments on one guest (tmpfs: gone with the routes when the guest reboots).</summary>
    /// <summary>Keyed by the network namespace, which is what routes and ip_forward belong to (lab hosts share one /run).</summary>
    public const string State = "/run/horizon-forward/$(stat -L -c %i /proc/self/ns/net)";

    /// <summary>The generator's C source, compiled on the network peer when an experiment starts.</summary>
    public static string GeneratorSource => Kit("fwdgen.c");

    public override string Name => "forward";

    public override string Description => "virtual router: UDP forwarded through the guest, zero-loss throughput (RFC 2544)";

    public override string StudySection => "beyond the study: RFC 2544 §26.1";

    public override ImmutableArray<ParameterDefinition> Parameters { get; } =
    [
        new("frame", ParameterKind.Integer, "64", "Ethernet frame size in bytes, FCS included (UDP payload = frame - 46); by default an experiment is run for 64, 512 and 1518 (RFC 2544's sizes)", 64),
        new("search", ParameterKind.Boolean, "true", "true: each round is a zero-loss throughput search; false: one trial at 'rate'"),
        new("rate", ParameterKind.Text, "auto", "frames/s: the search's top rate or the fixed trial's rate; auto = the generator's ceiling measured in prepare"),
        new("trial", ParameterKind.Duration, "1s", "length of one trial (RFC 2544 asks for 60 s on hardware)"),
        new("tolerance", ParameterKind.Text, "0", "loss in percent a trial may have and still pass (0 = zero loss)"),
        new("precision", ParameterKind.Text, "1", "the search stops when the passing and failing rates are within this many percent"),
        new("max_trials", ParameterKind.Integer, "16", "trials per search at most", 1),
        new("routes", ParameterKind.Integer, "1", $"/32 routes installed in the guest and cycled through by the traffic (1..{MaxRoutes})", 1),
        new("drain", ParameterKind.Duration, "0.5s", "wait after a trial's last frame before counting (RFC 2544: 2 s)"),
        new("port", ParameterKind.Integer, "7201", "the generator's control port on the peer", 1),
    ];

    public override IReadOnlyDictionary<string, IReadOnlyList<string>> DefaultSweep { get; } =
        new Dictionary<string, IReadOnlyList<string>> { ["frame"] = ["64", "512", "1518"] };

    public override ImmutableArray<ToolRequirement> Tools => [Gcc, new("iproute2 (ip)", "command -v ip", "iproute2")];

    public override Metric PrimaryMetric { get; } = new("throughput_pps", "frames/s", true);

    public override bool ReportsOutput => true;

    public override bool NeedsPeer => true;

    public override WorkloadScripts Build(WorkloadSpec spec) => throw new TestbedException("forward needs the testbed's network peer");

    /// <summary>Checks the parameters a plain type cannot: returns an error message or null.</summary>
    public override string? Validate(string name, string value) => name switch
    {
        "frame" when !int.TryParse(value, CultureInfo.InvariantCulture, out var f) || f is < 64 or > 1518 => $"must be 64..1518 bytes, got {value}",
        "rate" when value != "auto" && (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var r) || r <= 0) => $"expected auto or frames per second, got '{value}'",
        "tolerance" when !double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var t) || t is < 0 or >= 100 => $"expected a loss percentage 0..100, got '{value}'",
        "precision" when !double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var p) || p is <= 0 or >= 100 => $"expected a percentage above 0, got '{value}'",
        "routes" when !int.TryParse(value, CultureInfo.InvariantCulture, out var n) || n is < 1 or > MaxRoutes => $"must be 1..{MaxRoutes} (198.18.0.0/15 holds {MaxRoutes} /32 routes), got {value}",
        "max_trials" when !int.TryParse(value, CultureInfo.InvariantCulture, out var m) || m > 64 => $"must be 1..64, got {value}",
        _ => null,
    };

    public override WorkloadScripts Build(WorkloadSpec spec, WorkloadContext context)
    {
        var peer = context.PeerAddress ?? throw new TestbedException("forward needs a 'peer' in the testbed (it runs the traffic source and sink)");
        foreach (var (name, value) in spec.Parameters)
        {
            if (Validate(name, value) is { } error)
            {
                throw new ArgumentException($"forward: {name} {error}");
            }
        }

        var ms = (int)Math.Round(spec.GetDuration("trial").TotalMilliseconds);
        var drain = (int)Math.Round(spec.GetDuration("drain").TotalMilliseconds);
        var routes = spec.GetLong("routes");
        var frame = spec.GetLong("frame");
        var tolerance = spec.Get("tolerance");
        var precision = double.Parse(spec.Get("precision"), CultureInfo.InvariantCulture) / 100;
        var common = $"frame={frame} ms={ms} drain_ms={drain} tol={tolerance} precision={precision.ToString("0.#####", CultureInfo.InvariantCulture)} trials={spec.GetLong("max_trials")}";
        var request = $"hz_fwd() {{ exec 4<>/dev/tcp/{peer}/{spec.GetLong("port")} || {{ echo 'error cannot reach the generator on the peer {peer}:{spec.GetLong("port")}'; return 1; }}; " +
            "printf '%s src_ns=%s sink_ns=%s %s\\n' \"$1\" \"${HZ_FWD_SOURCE_NETNS-}\" \"${HZ_FWD_SINK_NETNS-}\" \"$2\" >&4; cat <&4; exec 4<&-; }";
        var mode = spec.GetBool("search") ? "search" : "trial";
        var rate = spec.Get("rate") == "auto" ? "$(cat ceiling.rate)" : spec.Get("rate");
        var rateKey = spec.GetBool("search") ? "max" : "rate";
        var prepare = $$"""
            [ -n "${HZ_FWD_SINK-}" ] || { echo "guest ${HZ_GUEST-?} has no 'forward:' path in the testbed (sink address, source_netns, sink_netns on the peer)" >&2; exit 1; }
            {{request}}
            ip -o -4 route get "$HZ_FWD_SINK" | grep -q ' dev ' || { echo "the sink $HZ_FWD_SINK is not reachable from this guest" >&2; exit 1; }
            # The generator's ceiling: the same trials over the peer's direct source-sink link, no guest in between.
            hz_fwd search "dst={{DirectBase}} count={{Math.Min(routes, 254)}} max=0 {{common}}" > ceiling.out
            grep '^result' ceiling.out > ceiling.result || { cat ceiling.out >&2; exit 1; }
            sed -n 's/.*generator_pps=\([0-9]*\).*/\1/p' ceiling.result > ceiling.rate
            cat ceiling.out
            # Last, so a prepare that fails leaves the guest as it was (cleanup runs only after a good prepare).
            # Experiments on one guest interleave: forwarding is turned on by the first and restored by the last (user files).
            mkdir -p {{State}}/users
            [ -f {{State}}/ip_forward.saved ] || cat /proc/sys/net/ipv4/ip_forward > {{State}}/ip_forward.saved
            touch "{{State}}/users/$(echo "$PWD" | md5sum | cut -c1-16)"
            echo 1 > /proc/sys/net/ipv4/ip_forward || { echo 'cannot turn IPv4 forwarding on (/proc/sys/net/ipv4/ip_forward)' >&2; exit 1; }
            for ((i=0; i<{{routes}}; i++)); do echo "route replace 198.$((18 + (i >> 16))).$(((i >> 8) & 255)).$((i & 255))/32 via $HZ_FWD_SINK proto {{RouteProtocol}}"; done > routes.batch
            """;
        // Before every round (untimed): the routing table holds exactly this experiment's routes — an interleaved experiment
        // of another size may have replaced them. Reinstalled only when the table is not already this one.
        var before = $$"""
            want="{{routes}} $HZ_FWD_SINK"
            if [[ "$(cat {{State}}/routes 2>/dev/null)" != "$want" ]]; then
              rm -f {{State}}/routes
              ip route flush proto {{RouteProtocol}} 2>/dev/null || true
              ip -batch routes.batch || { echo 'installing the routes failed' >&2; exit 1; }
              have=$(ip route show proto {{RouteProtocol}} | wc -l)
              (( have == {{routes}} )) || { echo "the guest's table holds $have of {{routes}} routes" >&2; exit 1; }
              echo "$want" > {{State}}/routes
            fi
            """;
        var round = $"""
            {request}
            hz_fwd {mode} "dst={RoutedBase} count={routes} {rateKey}={rate} {common}"
            sed 's/^result/ceiling/' ceiling.result
            """;
        var cleanup = $"""
            rm -f "{State}/users/$(echo "$PWD" | md5sum | cut -c1-16)"
            if [ -z "$(ls -A {State}/users 2>/dev/null)" ]; then
              ip route flush proto {RouteProtocol} 2>/dev/null
              [ -f {State}/ip_forward.saved ] && cat {State}/ip_forward.saved > /proc/sys/net/ipv4/ip_forward
              rm -rf {State}
            fi
            true
            """;
        return new WorkloadScripts(prepare, before, round, cleanup, ImmutableDictionary<string, string>.Empty) { ReportOutput = true };
    }

    public override PeerService? Peer(WorkloadSpec spec, WorkloadContext context)
    {
        var peer = context.PeerAddress ?? throw new TestbedException("forward needs a 'peer' in the testbed");
        var port = spec.GetLong("port");
        var dir = $"/tmp/horizon-fwdgen-{port}";
        var source = GeneratorSource;
        return new PeerService(
            $"mkdir -p {dir} && cat > {dir}/fwdgen.c <<'HZ_FWDGEN_EOF'\n{source}HZ_FWDGEN_EOF\n" +
            $"gcc -O2 -pthread -o {dir}/fwdgen {dir}/fwdgen.c || exit 1\n" +
            $"setsid {dir}/fwdgen serve {Quote(peer)} {port} < /dev/null > {dir}/serve.log 2>&1 & echo $! > {dir}/pid; sleep 0.3; kill -0 $(cat {dir}/pid) || {{ cat {dir}/serve.log; exit 1; }}",
            $"[ -f {dir}/pid ] && kill -TERM $(cat {dir}/pid) 2>/dev/null; rm -rf {dir}; true",
            $"forwarding generator (fwdgen) on {peer}:{port}");
    }

    public override IReadOnlyDictionary<string, double> ParseOutput(WorkloadSpec spec, string output) => ParseResult(output);

    /// <summary>Reads fwdgen's lines: the search's trials (kept as trialNN.* metrics), its result and the ceiling.</summary>
    public static IReadOnlyDictionary<string, double> ParseResult(string output)
    {
        var values = new Dictionary<string, double>();
        var sawResult = false;
        foreach (var raw in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var space = raw.IndexOf(' ', StringComparison.Ordinal);
            var kind = space < 0 ? raw : raw[..space];
            if (kind == "error")
            {
                throw new FormatException($"generator: {raw[(space + 1)..]}");
            }

            if (kind is not ("trial" or "result" or "ceiling"))
            {
                continue;
            }

            var fields = Fields(raw);
            switch (kind)
            {
                case "trial":
                    var n = (int)Need(fields, "n", raw);
                    var prefix = $"trial{n:00}.";
                    values[prefix + "requested_pps"] = Need(fields, "requested_pps", raw);
                    values[prefix + "offered_pps"] = Need(fields, "offered_pps", raw);
                    values[prefix + "forwarded_pps"] = Need(fields, "forwarded_pps", raw);
                    values[prefix + "loss_percent"] = Need(fields, "loss_pct", raw);
                    values[prefix + "latency_p99_us"] = Need(fields, "lat_p99_us", raw);
                    break;
                case "result":
                    sawResult = true;
                    values["throughput_pps"] = Need(fields, "throughput_pps", raw);
                    values["throughput_mbps"] = Need(fields, "throughput_mbps", raw);
                    values["loss_percent"] = Need(fields, "loss_pct", raw);
                    values["latency_avg_us"] = Need(fields, "lat_avg_us", raw);
                    values["latency_p50_us"] = Need(fields, "lat_p50_us", raw);
                    values["latency_p99_us"] = Need(fields, "lat_p99_us", raw);
                    values["latency_max_us"] = Need(fields, "lat_max_us", raw);
                    values["search_trials"] = Need(fields, "trials", raw);
                    values["generator_limited"] = fields.TryGetValue("limited", out var limited) && limited == "1" ? 1 : 0;
                    break;
                case "ceiling":
                    values["ceiling_pps"] = Need(fields, "throughput_pps", raw);
                    values["ceiling_mbps"] = Need(fields, "throughput_mbps", raw);
                    break;
            }
        }

        if (!sawResult)
        {
            throw new FormatException("the generator gave no result line");
        }

        if (values.TryGetValue("ceiling_pps", out var ceiling) && ceiling > 0)
        {
            values["percent_of_ceiling"] = 100 * values["throughput_pps"] / ceiling;
        }

        return values;
    }

    private static Dictionary<string, string> Fields(string line) =>
        line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(t => t.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);

    private static double Need(Dictionary<string, string> fields, string key, string line) =>
        fields.TryGetValue(key, out var v) && double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)
            ? d
            : throw new FormatException($"generator line without a numeric {key}: {line}");
}
