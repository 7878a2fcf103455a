using System.Collections.Immutable;
using Horizon.Results;
using Horizon.Statistics;

namespace Horizon.Reports;

/// <summary>One guest of a concurrent experiment.</summary>
public sealed record GuestShare(string Guest, SampleStatistics? Statistics, int Failed);

/// <summary>
/// One experiment of a scaling study (study section 6.2): N guests at once under a CPU scheme, with each guest's
/// statistics, how fairly they shared (Jain's index over per-guest throughput), how each guest fares against the
/// 1-guest run of the same scheme (slowdown, efficiency) and how far apart the guests really started (start skew).
/// </summary>
public sealed record ScalingRow(
    ExperimentResult Experiment,
    int Guests,
    ImmutableArray<GuestShare> PerGuest,
    SampleStatistics? All,
    double? Fairness,
    double? Slowdown,
    double? Efficiency,
    double? StartSkewSeconds)
{
    public string Platform => Experiment.Platform;

    public string Workload => Experiment.Workload;

    public string Scheme => Experiment.Scheme;

    public string Parameters => ResultsTable.Parameters(Experiment);

    /// <summary>What all guests achieved together: the sum of their means, for throughput-like metrics (higher is better).</summary>
    public double? Aggregate => Experiment.Metric.HigherIsBetter && PerGuest.All(p => p.Statistics is not null) && PerGuest.Length > 0
        ? PerGuest.Sum(p => p.Statistics!.Mean) : null;

    /// <summary>Per guest, the mean loss (%) and jitter (ms) of its network rounds (iperf-udp), where the rounds report them.</summary>
    public ImmutableArray<(string Guest, double LossPercent, double JitterMs)> Network =>
    [
        .. Experiment.Guests.Select((g, i) => (g, Rounds: Experiment.CountedRounds.Where(r => r.GuestIndex == i && r.Measured && r.Metrics?.ContainsKey("loss_percent") == true).ToList()))
            .Where(x => x.Rounds.Count > 0)
            .Select(x => (x.g, x.Rounds.Average(r => r.Metrics!["loss_percent"]), x.Rounds.Average(r => r.Metrics!.GetValueOrDefault("jitter_ms")))),
    ];
}

public static class ScalingTable
{
    /// <param name="experiments">The experiments of the campaign(s), every guest count and scheme.</param>
    /// <param name="blockFirstRounds">Per experiment, the first round of each block it ran (from the run order): the rounds whose start the barrier synchronised.</param>
    public static ImmutableArray<ScalingRow> Build(IEnumerable<ExperimentResult> experiments, IReadOnlyDictionary<Guid, IReadOnlyList<int>>? blockFirstRounds = null)
    {
        var list = experiments.ToList();
        var rows = new List<ScalingRow>();
        foreach (var e in list)
        {
            var perGuest = e.Guests.Select((g, i) => new GuestShare(g, e.GuestStatistics(i), e.Rounds.Count(r => r.GuestIndex == i && !r.Measured && !r.Warmup))).ToImmutableArray();
            var higher = e.Metric.HigherIsBetter;

            // Throughput share of each guest: its metric when higher is better, else work per second (1 / mean duration).
            var shares = perGuest.Where(p => p.Statistics is { Mean: > 0 }).Select(p => higher ? p.Statistics!.Mean : 1 / p.Statistics!.Mean).ToList();
            double? fairness = e.Guests.Length > 1 && shares.Count == e.Guests.Length ? Statistics.Fairness.Jain(shares) : null;

            var single = list.FirstOrDefault(b => b.Guests.Length == 1 && Same(b, e) && b.Scheme == e.Scheme)
                ?? list.FirstOrDefault(b => b.Guests.Length == 1 && Same(b, e) && b.Scheme == "default");
            double? slowdown = null, efficiency = null;
            if (single?.Statistics is { Mean: > 0 } s1 && e.Statistics is { Mean: > 0 } sn)
            {
                slowdown = higher ? s1.Mean / sn.Mean : sn.Mean / s1.Mean;
                efficiency = 1 / slowdown;
            }

            rows.Add(new ScalingRow(e, e.Guests.Length, perGuest, e.Statistics, fairness, slowdown, efficiency, StartSkew(e, blockFirstRounds?.GetValueOrDefault(e.Id))));
        }

        return [.. rows.OrderBy(r => r.Platform).ThenBy(r => r.Workload).ThenBy(r => r.Parameters).ThenBy(r => r.Scheme).ThenBy(r => r.Guests)];
    }

    /// <summary>Largest spread of the guests' start probes over the synchronised rounds (null for one guest).</summary>
    public static double? StartSkew(ExperimentResult e, IReadOnlyList<int>? firstRounds)
    {
        if (e.Guests.Length < 2)
        {
            return null;
        }

        var starts = e.Rounds.Where(r => r.Metrics?.ContainsKey(RoundResult.StartMetric) == true && (firstRounds is null || firstRounds.Contains(r.Round)))
            .GroupBy(r => r.Round)
            .Where(g => g.Count() == e.Guests.Length)
            .Select(g => g.Max(r => r.Metrics![RoundResult.StartMetric]) - g.Min(r => r.Metrics![RoundResult.StartMetric]))
            .ToList();
        return starts.Count > 0 ? starts.Max() : null;
    }

    private static bool Same(ExperimentResult a, ExperimentResult b) =>
        a.Platform == b.Platform && a.Workload == b.Workload && a.Parameters.SequenceEqual(b.Parameters);

    public static string ToText(IEnumerable<ScalingRow> rows)
    {
        var table = rows.Select(r => new[]
        {
            r.Platform, r.Workload, r.Parameters, r.Scheme, r.Guests.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ResultsTable.MeanCi(r.All, r.Experiment.Metric),
            string.Join("  ", r.PerGuest.Select(p => $"{p.Guest}: {ResultsTable.MeanCi(p.Statistics)}")),
            r.Fairness is { } f ? f.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture) : "—",
            r.Slowdown is { } s ? s.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture) + "×" : "—",
            r.StartSkewSeconds is { } k ? $"{k * 1000:0.0} ms" : "—",
            r.Aggregate is { } a ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{a:0.##} {r.Experiment.Metric.Unit}") : "—",
            r.Network.IsEmpty ? "—" : string.Join("  ", r.Network.Select(n => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{n.Guest}: {n.LossPercent:0.##} % / {n.JitterMs:0.###} ms"))),
            r.Experiment.Status + (r.Experiment.Note is { } n ? $": {n}" : ""),
        }).ToList();
        string[] header = ["platform", "workload", "parameters", "scheme", "guests", "mean ± 95% CI (all guests)", "per guest", "fairness (Jain)", "slowdown vs 1 guest", "start skew", "aggregate", "loss / jitter per guest", "status"];
        return TextTable.Render(header, table);
    }
}
