using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Horizon.Reports;

/// <summary>Exports in formats other tools read: hyperfine's JSON (its scripts plot and compare it) and Markdown tables.</summary>
public static class OtherFormats
{
    /// <summary>
    /// hyperfine's <c>--export-json</c> layout: one result per experiment whose metric is a duration (seconds), with
    /// <c>command</c> naming it, <c>times</c> the counted rounds in run order, <c>mean</c>/<c>stddev</c>/<c>median</c>/
    /// <c>min</c>/<c>max</c>, and <c>user</c>/<c>system</c> as the guest's CPU-seconds per round in user and system mode
    /// (all of the guest's processes, from /proc/stat — hyperfine's are its child's own; 0 where not read).
    /// </summary>
    public static string HyperfineJson(IEnumerable<ResultRow> rows)
    {
        var results = new JsonArray();
        foreach (var r in rows.Where(r => r.Statistics is not null && r.Experiment.Metric.Name == Workloads.Metric.Duration.Name))
        {
            var e = r.Experiment;
            var s = r.Statistics!;
            var counted = e.CountedRounds.Where(x => x.Measured && x.Seconds is not null).OrderBy(x => x.RecordedUnixMs).ThenBy(x => x.Round).ToList();
            double Cpu(string share) => counted.Select(x => x.Metrics is { } m && m.TryGetValue($"guest_cpu_{share}_pct", out var p) && m.TryGetValue("guest_cpu_s", out var total) ? p / 100 * total : 0).DefaultIfEmpty(0).Average();
            results.Add(new JsonObject
            {
                ["command"] = $"{e.Platform}/{e.GuestLabel}: {e.Workload} {ResultsTable.Parameters(e)} [{e.Scheme}]".Replace("  ", " ", StringComparison.Ordinal),
                ["mean"] = s.Mean,
                ["stddev"] = s.N > 1 ? s.StandardDeviation : null,
                ["median"] = s.Median,
                ["user"] = Cpu("user"),
                ["system"] = Cpu("system"),
                ["min"] = s.Min,
                ["max"] = s.Max,
                ["times"] = new JsonArray([.. counted.Select(x => (JsonNode)x.Seconds!.Value)]),
                ["exit_codes"] = new JsonArray([.. counted.Select(x => (JsonNode)(x.ExitCode ?? 0))]),
                ["parameters"] = new JsonObject(e.Parameters.Where(p => p.Value.Length > 0).Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))),
            });
        }

        return new JsonObject { ["results"] = results }.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>The results table as Markdown, warnings in full beneath it.</summary>
    public static string Markdown(string campaign, IReadOnlyList<ResultRow> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"## Horizon results: {Escape(campaign)}").AppendLine();
        sb.AppendLine("| platform | guests | workload | parameters | scheme | n | failed | mean ± 95% CI | CV | ratio to native [95% CI] | steal |");
        sb.AppendLine("|---|---|---|---|---|---:|---:|---:|---:|---|---:|");
        foreach (var r in rows)
        {
            var e = r.Experiment;
            sb.AppendLine(string.Join(" | ", [
                "", Escape(e.Platform), Escape(e.GuestLabel), Escape(e.Workload), Escape(ResultsTable.Parameters(e)), Escape(e.Scheme),
                (r.Statistics?.N ?? 0).ToString(CultureInfo.InvariantCulture), e.FailedCount.ToString(CultureInfo.InvariantCulture),
                Escape(ResultsTable.MeanCi(r.Statistics, e.Metric)),
                r.Statistics is { N: > 1 } s ? s.CoefficientOfVariation.ToString("P1", CultureInfo.InvariantCulture) : "—",
                Escape(ResultsTable.Ratio(r)), ResultsTable.Steal(e), ""]).Trim());
        }

        var warnings = rows.SelectMany(r => r.Conclusions.Where(c => c.Kind != Analysers.ConclusionKind.Hint).Select(c => (r.Experiment, c))).ToList();
        if (warnings.Count > 0)
        {
            sb.AppendLine();
            foreach (var (e, c) in warnings)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"- **{c.Code}** {Escape(e.Workload)} {Escape(ResultsTable.Parameters(e))} on {Escape(e.GuestLabel)} ({Escape(e.Scheme)}): {Escape(c.Message)}");
            }
        }

        return sb.ToString();
    }

    private static string Escape(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}
