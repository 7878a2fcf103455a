using System.Collections.Immutable;
using System.Globalization;
using Horizon.Results;
using Horizon.Statistics;

namespace Horizon.Reports;

/// <summary>
/// One forward experiment as RFC 2544 reports it: the zero-loss throughput per frame size (mean ± 95% CI over rounds,
/// each round one search), in frames/s and Mbit/s, the latency at that rate, and — next to it — what the traffic
/// generator reaches with no guest in between, so a result limited by the tool says so.
/// </summary>
public sealed record ForwardingRow(
    ExperimentResult Experiment,
    int Frame,
    int Routes,
    bool Search,
    SampleStatistics? Throughput,
    double? Mbps,
    double? LatencyP99Us,
    double? CeilingPps,
    double? PercentOfCeiling,
    int LimitedRounds)
{
    /// <summary>Above this share of the generator's own ceiling the figure may be the tool's limit, not the guest's.</summary>
    public const double LimitedPercent = 90;

    /// <summary>The figure may be the generator's: near its ceiling, or it could not offer the rate asked (it shares the CPU).</summary>
    public bool GeneratorLimited => PercentOfCeiling >= LimitedPercent || LimitedRounds > 0;
}

public static class ForwardingTable
{
    public static ImmutableArray<ForwardingRow> Build(IEnumerable<ExperimentResult> experiments)
    {
        var rows = new List<ForwardingRow>();
        foreach (var e in experiments.Where(e => e.Workload == "forward"))
        {
            var measured = e.Rounds.Where(r => r.Counts && r.Metrics is not null).Select(r => r.Metrics!).ToList();
            double? Mean(string key) => measured.Where(m => m.ContainsKey(key)).Select(m => m[key]).DefaultIfEmpty(double.NaN).Average() is var v && !double.IsNaN(v) ? v : null;
            int Int(string key, int fallback) => e.Parameters.TryGetValue(key, out var s) && int.TryParse(s, CultureInfo.InvariantCulture, out var n) ? n : fallback;
            var ceiling = Mean("ceiling_pps");
            var statistics = e.Statistics;
            rows.Add(new ForwardingRow(
                e, Int("frame", 64), Int("routes", 1), e.Parameters.GetValueOrDefault("search", "true") == "true", statistics,
                Mean("throughput_mbps"), Mean("latency_p99_us"), ceiling,
                statistics is not null && ceiling is > 0 ? 100 * statistics.Mean / ceiling : null,
                measured.Count(m => m.GetValueOrDefault("generator_limited") > 0)));
        }

        return [.. rows.OrderBy(r => r.Frame).ThenBy(r => r.Routes).ThenBy(r => r.Experiment.Scheme).ThenBy(r => r.Experiment.Platform).ThenBy(r => r.Experiment.GuestLabel)];
    }

    public static string Pps(double v) => v.ToString("N0", CultureInfo.InvariantCulture);

    public static string MeanCi(SampleStatistics? s) => s switch
    {
        null => "—",
        { N: 1 } => $"{Pps(s.Mean)} (n=1)",
        _ => $"{Pps(s.Mean)} ± {Pps(s.Interval.HalfWidth)}",
    };

    public static string[] Header { get; } =
        ["frame B", "routes", "platform", "guest", "scheme", "n", "zero-loss frames/s (mean ± 95% CI)", "Mbit/s", "p99 latency µs", "generator alone frames/s", "% of generator", "note"];

    public static string[] Cells(ForwardingRow r) =>
    [
        r.Frame.ToString(CultureInfo.InvariantCulture), r.Routes.ToString("N0", CultureInfo.InvariantCulture), r.Experiment.Platform, r.Experiment.GuestLabel, r.Experiment.Scheme,
        (r.Throughput?.N ?? 0).ToString(CultureInfo.InvariantCulture),
        MeanCi(r.Throughput) + (r.Search ? "" : " (fixed rate)"),
        r.Mbps is { } m ? m.ToString("N1", CultureInfo.InvariantCulture) : "—",
        r.LatencyP99Us is { } l ? l.ToString("N0", CultureInfo.InvariantCulture) : "—",
        r.CeilingPps is { } c ? Pps(c) : "—",
        r.PercentOfCeiling is { } p ? p.ToString("0", CultureInfo.InvariantCulture) + " %" : "—",
        r.LimitedRounds > 0 ? $"generator-limited in {r.LimitedRounds} round(s): it could not offer more while sharing the CPU with the guest"
            : r.GeneratorLimited ? "at the generator's ceiling: the guest may forward more"
            : r.Experiment.Status == "Completed" ? "" : r.Experiment.Status + (r.Experiment.Note is { } n ? $": {n}" : ""),
    ];

    public static string ToText(IEnumerable<ForwardingRow> rows) => TextTable.Render(Header, [.. rows.Select(Cells)]);
}
