using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using Horizon.Results;

namespace Horizon.Reports;

public enum FindingStatus
{
    Reproduced,
    NotReproduced,

    /// <summary>Measured, but the intervals are too wide to say either way: more rounds would decide.</summary>
    Inconclusive,
    NotMeasured,
}

/// <summary>One qualitative finding of the 2009 study, judged on the campaigns given, with the figures that decided it.</summary>
public sealed record Finding(string Section, string Claim, string Rule, FindingStatus Status, string Evidence);

/// <summary>
/// The study's findings, checked (<c>horizon report --study</c>): each finding has a stated rule, evaluated on the
/// experiments given (one campaign or several read as one study). A finding nobody measured says so.
/// </summary>
public static class StudyFindings
{
    private static readonly string[] Containers = ["lxc", "docker", "podman", "openvz"];

    public static ImmutableArray<Finding> Evaluate(IReadOnlyList<ExperimentResult> experiments)
    {
        var rows = ResultsTable.Build(experiments);
        var scaling = ScalingTable.Build(experiments);
        return
        [
            ContainerNearNative(rows),
            SharedCore(scaling),
            Exclusive(scaling),
            DefaultScheme(scaling),
            BufferDirtying(experiments),
            NetworkBelowLineRate(rows),
        ];
    }

    private static Finding ContainerNearNative(ImmutableArray<ResultRow> rows)
    {
        const string claim = "Containers run CPU- and memory-bound work at native speed";
        const string rule = "reproduced when every container row of superpi and masr has its ratio to native's 95 % CI within [0.95, 1.05]; not when one lies wholly outside; else undecided";
        var relevant = rows.Where(r => Containers.Contains(r.Experiment.Platform) && r.Experiment.Workload is "superpi" or "masr" && r.RatioToBaseline is { Bounded: true }).ToList();
        if (relevant.Count == 0)
        {
            return new("6.1.1–6.1.2", claim, rule, FindingStatus.NotMeasured, "no container experiment of superpi or masr with a native baseline");
        }

        var evidence = string.Join("; ", relevant.Select(r => $"{r.Experiment.Platform} {r.Experiment.Workload}: {ResultsTable.Ratio(r.RatioToBaseline)}"));
        return new("6.1.1–6.1.2", claim, rule, Band(relevant.Select(r => r.RatioToBaseline!.Interval)), evidence);
    }

    private static Finding SharedCore(ImmutableArray<ScalingRow> scaling)
    {
        const string claim = "One shared core: N guests each run about N× slower, and share it fairly";
        const string rule = "shared-core, N ≥ 2 guests: slowdown against 1 guest within N ± 25 % and Jain's fairness ≥ 0.9";
        var relevant = scaling.Where(r => r.Scheme == "shared-core" && r.Guests >= 2 && r.Slowdown is not null && r.Fairness is not null && Cpu(r.Workload)).ToList();
        if (relevant.Count == 0)
        {
            return new("6.2", claim, rule, FindingStatus.NotMeasured, "no shared-core experiment of a CPU workload with 2 or more guests and a 1-guest run");
        }

        var ok = relevant.All(r => Math.Abs(r.Slowdown!.Value - r.Guests) <= 0.25 * r.Guests && r.Fairness >= 0.9);
        return new("6.2", claim, rule, ok ? FindingStatus.Reproduced : FindingStatus.NotReproduced,
            string.Join("; ", relevant.Select(r => Inv($"{r.Platform} {r.Workload} {r.Guests} guests: {r.Slowdown:0.00}×, J={r.Fairness:0.000}"))));
    }

    private static Finding Exclusive(ImmutableArray<ScalingRow> scaling)
    {
        const string claim = "One exclusive core per vCPU: performance stays flat as guests are added";
        const string rule = "exclusive, N ≥ 2 guests: slowdown against 1 guest ≤ 1.15";
        var relevant = scaling.Where(r => r.Scheme == "exclusive" && r.Guests >= 2 && r.Slowdown is not null && Cpu(r.Workload)).ToList();
        if (relevant.Count == 0)
        {
            var refused = scaling.Where(r => r.Scheme == "exclusive" && r.Experiment.Status != "Completed").Select(r => r.Experiment.Note).FirstOrDefault(n => n is not null);
            return new("6.2", claim, rule, FindingStatus.NotMeasured,
                refused is null ? "no exclusive experiment with 2 or more guests" : $"not measured here: {refused}");
        }

        var ok = relevant.All(r => r.Slowdown <= 1.15);
        return new("6.2", claim, rule, ok ? FindingStatus.Reproduced : FindingStatus.NotReproduced,
            string.Join("; ", relevant.Select(r => Inv($"{r.Platform} {r.Workload} {r.Guests} guests: {r.Slowdown:0.00}×"))));
    }

    private static Finding DefaultScheme(ImmutableArray<ScalingRow> scaling)
    {
        const string claim = "The platform's own scheduler (default): flat while vCPUs fit the cores, slower once they outnumber them";
        const string rule = "default, N ≥ 2 guests: slowdown ≤ 1.15 when the guests' vCPUs ≤ the host's CPUs, > 1.15 when they outnumber them";
        var relevant = scaling.Where(r => r.Scheme == "default" && r.Guests >= 2 && r.Slowdown is not null && Cpu(r.Workload) && Capacity(r.Experiment) is not null).ToList();
        if (relevant.Count == 0)
        {
            return new("6.2", claim, rule, FindingStatus.NotMeasured, "no default-scheme experiment of a CPU workload with 2 or more guests and a 1-guest run");
        }

        var ok = relevant.All(r => Capacity(r.Experiment) is var (vcpus, cpus) && (vcpus <= cpus ? r.Slowdown <= 1.15 : r.Slowdown > 1.15));
        return new("6.2", claim, rule, ok ? FindingStatus.Reproduced : FindingStatus.NotReproduced,
            string.Join("; ", relevant.Select(r => Capacity(r.Experiment) is var (v, c) ? Inv($"{r.Platform} {r.Workload} {r.Guests} guests ({v} vCPUs on {c} CPUs): {r.Slowdown:0.00}×") : "")));
    }

    private static Finding BufferDirtying(IReadOnlyList<ExperimentResult> experiments)
    {
        const string claim = "Dirtying the write buffers first changes the ZFG (Zero File Generator) time";
        const string rule = "reproduced when, per platform, zfg-dirty / zfg has a 95 % CI that excludes 1; not when one lies within [0.95, 1.05]; else undecided";
        var pairs = experiments.Where(e => e.Workload == "zfg" && e.Statistics is { N: > 1 })
            .Select(z => (Zfg: z, Dirty: experiments.FirstOrDefault(d => d.Workload == "zfg-dirty" && d.Platform == z.Platform && d.Scheme == z.Scheme && d.Guests.Length == z.Guests.Length && d.Statistics is { N: > 1 })))
            .Where(p => p.Dirty is not null).ToList();
        if (pairs.Count == 0)
        {
            return new("6.1.5", claim, rule, FindingStatus.NotMeasured, "no platform with both zfg and zfg-dirty measured");
        }

        var ratios = pairs.Select(p => (p.Zfg.Platform, Ratio: Statistics.RatioEstimate.Fieller(p.Dirty!.Statistics!, p.Zfg.Statistics!))).ToList();
        var status = ratios.All(r => r.Ratio.Bounded && !r.Ratio.Interval.Contains(1)) ? FindingStatus.Reproduced
            : ratios.Any(r => r.Ratio.Bounded && r.Ratio.Interval.Lower >= 0.95 && r.Ratio.Interval.Upper <= 1.05) ? FindingStatus.NotReproduced
            : FindingStatus.Inconclusive;
        return new("6.1.5", claim, rule, status,
            string.Join("; ", ratios.Select(r => $"{r.Platform}: {ResultsTable.Ratio(r.Ratio)}")));
    }

    private static Finding NetworkBelowLineRate(ImmutableArray<ResultRow> rows)
    {
        const string claim = "At a rate below line rate every platform carries the offered UDP throughput, as native does";
        const string rule = "reproduced when every virtualized iperf-udp row has its throughput ratio to native's 95 % CI within [0.95, 1.05]; not when one lies wholly outside; else undecided";
        var relevant = rows.Where(r => r.Experiment.Workload == "iperf-udp" && r.Experiment.Platform != ResultsTable.BaselinePlatform && r.RatioToBaseline is { Bounded: true }).ToList();
        if (relevant.Count == 0)
        {
            return new("6.1.7–6.1.8", claim, rule, FindingStatus.NotMeasured, "no virtualized iperf-udp experiment with a native baseline (needs a network peer)");
        }

        return new("6.1.7–6.1.8", claim, rule, Band(relevant.Select(r => r.RatioToBaseline!.Interval)),
            string.Join("; ", relevant.Select(r => $"{r.Experiment.Platform} {r.Experiment.Parameters.GetValueOrDefault("direction", "")}: {ResultsTable.Ratio(r.RatioToBaseline)}")));
    }

    /// <summary>"Equal to native": every interval inside ±5 % reproduces it, one wholly outside refutes it, else undecided.</summary>
    private static FindingStatus Band(IEnumerable<Statistics.ConfidenceInterval> intervals)
    {
        var list = intervals.ToList();
        return list.All(i => i.Lower >= 0.95 && i.Upper <= 1.05) ? FindingStatus.Reproduced
            : list.Any(i => i.Lower > 1.05 || i.Upper < 0.95) ? FindingStatus.NotReproduced
            : FindingStatus.Inconclusive;
    }

    private static bool Cpu(string workload) => workload is "superpi" or "masr" or "kernel-build" or "command";

    /// <summary>
    /// The guests' vCPUs and the host's CPUs, from the experiment's recorded environment: the host's topology as the
    /// placement discovered it ("N logical CPU(s)"); a guest's own CPU count only where that is missing — inside a VM
    /// it counts the VM's vCPUs, not the host's CPUs.
    /// </summary>
    private static (int Vcpus, int Cpus)? Capacity(ExperimentResult e)
    {
        try
        {
            using var doc = JsonDocument.Parse(e.EnvironmentJson);
            if (!doc.RootElement.TryGetProperty("guests", out var guests))
            {
                return null;
            }

            int vcpus = 0, cpus = 0;
            foreach (var g in guests.EnumerateArray())
            {
                vcpus += g.TryGetProperty("vcpus", out var v) && v.TryGetInt32(out var nv) ? nv : 1;
                cpus = Math.Max(cpus, g.TryGetProperty("cpus", out var c) && c.TryGetInt32(out var nc) ? nc : 0);
            }

            cpus = HostTopologyRecord.LogicalCpus(doc.RootElement, cpus);
            return cpus > 0 ? (vcpus, cpus) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public static string ToText(IEnumerable<Finding> findings) => TextTable.Render(
        ["section", "finding", "here", "decided by"],
        [.. findings.Select(f => new[] { f.Section, f.Claim, Word(f.Status), f.Evidence })]);

    public static string Word(FindingStatus s) => s switch
    {
        FindingStatus.Reproduced => "reproduced",
        FindingStatus.NotReproduced => "NOT reproduced",
        FindingStatus.Inconclusive => "undecided (intervals too wide: more rounds)",
        _ => "not measured",
    };

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
