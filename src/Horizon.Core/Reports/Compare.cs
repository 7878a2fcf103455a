using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Horizon.Results;
using Horizon.Statistics;

namespace Horizon.Reports;

/// <summary>What comparing one experiment of run B with the same experiment of run A concluded.</summary>
public enum Verdict
{
    /// <summary>Significant and beyond the threshold, the worse way (slower; lower throughput).</summary>
    Regression,

    /// <summary>Significant and beyond the threshold, the better way.</summary>
    Improvement,

    /// <summary>No significant change, and these rounds could have detected one as small as the threshold.</summary>
    NoChange,

    /// <summary>No significant change, but the rounds are too few or too noisy to see a change of the threshold's size.</summary>
    Inconclusive,

    /// <summary>Significant, but smaller than the threshold.</summary>
    BelowThreshold,
}

public sealed record ComparedExperiment(ExperimentResult A, ExperimentResult B, SampleStatistics StatsA, SampleStatistics StatsB, TwoSampleComparison Comparison, Verdict Verdict)
{
    public string Key => A.Key;

    /// <summary>The change in words: "12.3 % slower" for durations, "4.1 % lower" for other metrics.</summary>
    public string Change
    {
        get
        {
            var change = Comparison.Ratio - 1;
            var word = A.Metric.Name == Workloads.Metric.Duration.Name ? (change > 0 ? "slower" : "faster") : (change > 0 ? "higher" : "lower");
            return string.Create(CultureInfo.InvariantCulture, $"{Math.Abs(change) * 100:0.0} % {word}");
        }
    }
}

/// <summary>
/// <c>horizon compare A B</c>: per experiment present in both runs (same key: workload, parameters, guests, scheme), the
/// ratio B/A with Fieller's 95 % interval, a test that fits the rounds (Welch's t; Mann–Whitney U when either side is
/// bimodal or has outliers), the smallest change the rounds could have detected, and a verdict at a threshold.
/// </summary>
public sealed record ComparisonReport(
    string NameA, string NameB, double Threshold, ImmutableArray<ComparedExperiment> Compared, ImmutableArray<string> OnlyInA, ImmutableArray<string> OnlyInB, ImmutableArray<string> NotComparable)
{
    public bool HasRegression => Compared.Any(c => c.Verdict == Verdict.Regression);

    public static ComparisonReport Build(string nameA, IEnumerable<ExperimentResult> a, string nameB, IEnumerable<ExperimentResult> b, double threshold)
    {
        var left = a.ToDictionary(e => e.Key);
        var right = b.ToDictionary(e => e.Key);
        var compared = ImmutableArray.CreateBuilder<ComparedExperiment>();
        var notComparable = ImmutableArray.CreateBuilder<string>();
        foreach (var (key, ea) in left.OrderBy(kv => kv.Value.Order))
        {
            if (!right.TryGetValue(key, out var eb))
            {
                continue;
            }

            if (ea.Statistics is not { N: >= 2 } sa || eb.Statistics is not { N: >= 2 } sb)
            {
                notComparable.Add($"{key}: fewer than 2 measured rounds on one side ({ea.Statistics?.N ?? 0} vs {eb.Statistics?.N ?? 0})");
                continue;
            }

            var nonNormal = ea.Conclusions().Concat(eb.Conclusions()).Any(c => c.Code is "bimodal" or "outliers");
            var c = TwoSampleComparison.Of(sa, sb, nonNormal);
            compared.Add(new ComparedExperiment(ea, eb, sa, sb, c, Decide(c, threshold, ea.Metric.HigherIsBetter)));
        }

        return new ComparisonReport(nameA, nameB, threshold, compared.ToImmutable(),
            [.. left.Keys.Where(k => !right.ContainsKey(k)).Order(StringComparer.Ordinal)],
            [.. right.Keys.Where(k => !left.ContainsKey(k)).Order(StringComparer.Ordinal)], notComparable.ToImmutable());
    }

    /// <summary>
    /// The rule: a change is a regression or an improvement when the test finds it (p &lt; 0.05) and B/A differs from 1
    /// by at least the threshold; a found change smaller than that is "below threshold"; no change found is "no change"
    /// only when the rounds could have detected a change of the threshold's size, otherwise "inconclusive".
    /// </summary>
    public static Verdict Decide(TwoSampleComparison c, double threshold, bool higherIsBetter)
    {
        if (c.Significant)
        {
            if (Math.Abs(c.Ratio - 1) < threshold)
            {
                return Verdict.BelowThreshold;
            }

            var worse = higherIsBetter ? c.Ratio < 1 : c.Ratio > 1;
            return worse ? Verdict.Regression : Verdict.Improvement;
        }

        return c.MinimumDetectableChange <= threshold ? Verdict.NoChange : Verdict.Inconclusive;
    }

    private static readonly string[] Header = ["experiment", "A mean", "B mean", "B/A [95% CI]", "test", "p", "change", "detectable", "verdict"];

    private string[] Cells(ComparedExperiment c) =>
    [
        Label(c.A), ResultsTable.MeanCi(c.StatsA, c.A.Metric), ResultsTable.MeanCi(c.StatsB, c.B.Metric),
        string.Create(CultureInfo.InvariantCulture, $"{c.Comparison.Ratio:0.000} [{Bound(c.Comparison.RatioInterval.Lower, c.Comparison.RatioBounded)}, {Bound(c.Comparison.RatioInterval.Upper, c.Comparison.RatioBounded)}]"),
        c.Comparison.Test == ComparisonTest.Welch ? "Welch t" : "Mann-Whitney U",
        c.Comparison.PValue < 0.0001 ? "<0.0001" : c.Comparison.PValue.ToString("0.0000", CultureInfo.InvariantCulture),
        c.Change, string.Create(CultureInfo.InvariantCulture, $"≥ {c.Comparison.MinimumDetectableChange * 100:0.0} %"),
        VerdictText(c.Verdict),
    ];

    public static string VerdictText(Verdict v) => v switch
    {
        Verdict.Regression => "REGRESSION",
        Verdict.Improvement => "improvement",
        Verdict.NoChange => "no change",
        Verdict.Inconclusive => "inconclusive",
        _ => "below threshold",
    };

    public string ToText()
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"compare A = {NameA}, B = {NameB}; threshold {Threshold * 100:0.#} %, α = {TwoSampleComparison.Alpha}, power {TwoSampleComparison.Power}");
        sb.Append(TextTable.Render(Header, [.. Compared.Select(Cells)]));
        AppendNotes(sb, "");
        return sb.ToString();
    }

    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"## {NameB} compared with {NameA}").AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Threshold {Threshold * 100:0.#} %; a change counts when its test gives p < {TwoSampleComparison.Alpha}. \"detectable\" is the smallest change these rounds could have found (α = {TwoSampleComparison.Alpha}, power {TwoSampleComparison.Power}).").AppendLine();
        sb.AppendLine("| " + string.Join(" | ", Header) + " |");
        sb.AppendLine("|" + string.Concat(Header.Select(_ => "---|")));
        foreach (var c in Compared)
        {
            sb.AppendLine("| " + string.Join(" | ", Cells(c).Select(x => x.Replace("|", "\\|", StringComparison.Ordinal))) + " |");
        }

        AppendNotes(sb.AppendLine(), "- ");
        return sb.ToString();
    }

    public string ToJson()
    {
        var root = new JsonObject
        {
            ["schema"] = "horizon-compare",
            ["schema_version"] = 1,
            ["a"] = NameA,
            ["b"] = NameB,
            ["threshold"] = Threshold,
            ["alpha"] = TwoSampleComparison.Alpha,
            ["power"] = TwoSampleComparison.Power,
            ["regression"] = HasRegression,
            ["experiments"] = new JsonArray([.. Compared.Select(c => (JsonNode)new JsonObject
            {
                ["key"] = c.Key,
                ["workload"] = c.A.Workload,
                ["parameters"] = ResultsTable.Parameters(c.A),
                ["guests"] = c.A.GuestLabel,
                ["scheme"] = c.A.Scheme,
                ["metric"] = c.A.Metric.Name,
                ["unit"] = c.A.Metric.Unit,
                ["a"] = new JsonObject { ["n"] = c.StatsA.N, ["mean"] = c.StatsA.Mean, ["ci95_low"] = c.StatsA.Interval.Lower, ["ci95_high"] = c.StatsA.Interval.Upper },
                ["b"] = new JsonObject { ["n"] = c.StatsB.N, ["mean"] = c.StatsB.Mean, ["ci95_low"] = c.StatsB.Interval.Lower, ["ci95_high"] = c.StatsB.Interval.Upper },
                ["ratio"] = c.Comparison.Ratio,
                ["ratio_ci95_low"] = c.Comparison.RatioBounded ? c.Comparison.RatioInterval.Lower : null,
                ["ratio_ci95_high"] = c.Comparison.RatioBounded ? c.Comparison.RatioInterval.Upper : null,
                ["test"] = c.Comparison.Test == ComparisonTest.Welch ? "welch-t" : "mann-whitney-u",
                ["p_value"] = c.Comparison.PValue,
                ["minimum_detectable_change"] = c.Comparison.MinimumDetectableChange,
                ["verdict"] = c.Verdict switch
                {
                    Verdict.Regression => "regression",
                    Verdict.Improvement => "improvement",
                    Verdict.NoChange => "no-change",
                    Verdict.Inconclusive => "inconclusive",
                    _ => "below-threshold",
                },
            })]),
            ["only_in_a"] = new JsonArray([.. OnlyInA.Select(k => (JsonNode)k)]),
            ["only_in_b"] = new JsonArray([.. OnlyInB.Select(k => (JsonNode)k)]),
            ["not_comparable"] = new JsonArray([.. NotComparable.Select(k => (JsonNode)k)]),
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private void AppendNotes(StringBuilder sb, string bullet)
    {
        foreach (var k in OnlyInA)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"{bullet}only in A: {k}");
        }

        foreach (var k in OnlyInB)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"{bullet}only in B: {k}");
        }

        foreach (var k in NotComparable)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"{bullet}not compared: {k}");
        }

        if (Compared.Any(c => c.Verdict == Verdict.Inconclusive))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"{bullet}inconclusive: no change was found, but these rounds could not have seen one of {Threshold * 100:0.#} % — run more rounds.");
        }
    }

    private static string Label(ExperimentResult e) => $"{e.Workload} {ResultsTable.Parameters(e)} [{e.GuestLabel}, {e.Scheme}]".Replace("  ", " ", StringComparison.Ordinal);

    private static string Bound(double v, bool bounded) => bounded ? v.ToString("0.000", CultureInfo.InvariantCulture) : "∞";
}
