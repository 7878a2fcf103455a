using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Horizon.Results;
using Horizon.Statistics;

namespace Horizon.Reports;

/// <summary>One line of the study-style table: platform, workload, mean ± 95% CI, n, ratio to native.</summary>
public sealed record ResultRow(
    ExperimentResult Experiment,
    SampleStatistics? Statistics,
    RatioEstimate? RatioToBaseline,
    string? Baseline,
    ImmutableArray<Analysers.Conclusion> Conclusions);

public static class ResultsTable
{
    public const string BaselinePlatform = "native";

    /// <summary>Marks the row that other rows of its workload are compared with.</summary>
    public const string IsBaseline = "(baseline)";

    public static ImmutableArray<ResultRow> Build(IEnumerable<ExperimentResult> experiments)
    {
        var list = experiments.ToList();
        var rows = ImmutableArray.CreateBuilder<ResultRow>();
        foreach (var e in list)
        {
            var stats = e.Statistics;
            // The baseline is the native run of the same workload, parameters and scheme.
            var baseline = list.FirstOrDefault(b => b.Platform == BaselinePlatform && b.Workload == e.Workload
                && b.Parameters.SequenceEqual(e.Parameters) && b.Scheme == e.Scheme && b.Guests.Length == e.Guests.Length);
            RatioEstimate? ratio = null;
            if (baseline?.Id == e.Id)
            {
                rows.Add(new ResultRow(e, stats, null, IsBaseline, e.Conclusions()));
                continue;
            }

            if (baseline?.Statistics is { } bs && stats is not null && bs.Mean != 0)
            {
                ratio = RatioEstimate.Fieller(stats, bs);
            }

            var conclusions = e.Conclusions();
            if (ratio is not null && baseline is not null && baseline.Campaign != e.Campaign)
            {
                // Campaigns read as one study (e.g. one per platform, run after a reboot, as the study did): the ratio is
                // honest only about what it is — two runs, not rounds interleaved on one machine.
                conclusions = conclusions.Add(new Analysers.Conclusion("not-interleaved", Analysers.ConclusionKind.Warning,
                    $"the ratio to native uses campaign '{baseline.Campaign}'{Apart(baseline, e)}: not interleaved with these rounds, so drift between the runs is part of the ratio"));
            }

            if (ratio is not null && baseline is not null && MachineRecord.Of(baseline) is { } on && MachineRecord.Of(e) is { } here && !on.SameComputer(here))
            {
                conclusions = conclusions.Add(CrossMachine(on, here));
            }

            rows.Add(new ResultRow(e, stats, ratio, baseline is null ? null : baseline.Campaign == e.Campaign ? baseline.GuestLabel : $"{baseline.GuestLabel} ({baseline.Campaign})", conclusions));
        }

        return rows.ToImmutable();
    }

    /// <summary>
    /// A ratio between two test computers: a warning when their recorded hardware differs (or is unknown), else a hint;
    /// either way the two were not interleaved on one machine.
    /// </summary>
    private static Analysers.Conclusion CrossMachine(MachineRecord baseline, MachineRecord here)
    {
        var differs = baseline.HardwareDifferences(here);
        return differs.Count > 0
            ? new Analysers.Conclusion("cross-machine", Analysers.ConclusionKind.Warning,
                $"the ratio to native is across test computers whose hardware differs ({string.Join(", ", differs)}): native by {baseline}; this by {here} — not interleaved on one machine, so the ratio mixes the machines with the platforms")
            : new Analysers.Conclusion("other-machine", Analysers.ConclusionKind.Hint,
                $"native was measured by agent {baseline.Agent} on {baseline.Machine}, this by agent {here.Agent} on {here.Machine} (same recorded hardware: {here.CpuModel}, {here.Cpus} CPUs, kernel {here.Kernel}): not interleaved on one machine");
    }

    private static string Apart(ExperimentResult a, ExperimentResult b)
    {
        if (a.CreatedUnixMs <= 0 || b.CreatedUnixMs <= 0)
        {
            return "";
        }

        var apart = TimeSpan.FromMilliseconds(Math.Abs(b.CreatedUnixMs - a.CreatedUnixMs));
        var when = b.CreatedUnixMs >= a.CreatedUnixMs ? "earlier" : "later";
        return apart.TotalHours >= 1 ? string.Create(CultureInfo.InvariantCulture, $", run {apart.TotalHours:0.#} h {when}")
            : string.Create(CultureInfo.InvariantCulture, $", run {apart.TotalMinutes:0.#} min {when}");
    }

    public static string Seconds(double s) => s switch
    {
        >= 100 => s.ToString("0.0", CultureInfo.InvariantCulture),
        >= 1 => s.ToString("0.000", CultureInfo.InvariantCulture),
        _ => s.ToString("0.0000", CultureInfo.InvariantCulture),
    };

    public static string MeanCi(SampleStatistics? s, Workloads.Metric metric) => MeanCi(s) + (s is null ? "" : $" {metric.Unit}");

    public static string MeanCi(SampleStatistics? s) => s switch
    {
        null => "—",
        { N: 1 } => $"{Seconds(s.Mean)} (n=1)",
        _ => $"{Seconds(s.Mean)} ± {Seconds(s.Interval.HalfWidth)}",
    };

    public static string Ratio(ResultRow row) =>
        row.Baseline == IsBaseline ? "1 (baseline)"
        : row.Conclusions.Any(c => c.Code == "cross-machine") ? Ratio(row.RatioToBaseline) + " cross-machine"
        : row.Conclusions.Any(c => c.Code is "not-interleaved" or "other-machine") ? Ratio(row.RatioToBaseline) + " not interleaved"
        : Ratio(row.RatioToBaseline);

    public static string Ratio(RatioEstimate? r) => r switch
    {
        null => "—",
        { Bounded: false } => $"{r.Value:0.000} (CI unbounded)",
        _ => $"{r.Value:0.000} [{r.Interval.Lower:0.000}, {r.Interval.Upper:0.000}]",
    };

    public static string Parameters(ExperimentResult e) => string.Join(" ", e.Parameters.Where(p => p.Value.Length > 0).Select(p => $"{p.Key}={Short(p.Value)}"));

    private static string Short(string v) =>
        long.TryParse(v, CultureInfo.InvariantCulture, out var n) && n >= 1 << 20 && n % (1 << 20) == 0 ? Config.Units.FormatSize(n) : v.Length > 40 ? v[..37] + "..." : v;

    /// <summary>Whether any experiment's guests saw steal time: the results show a steal column only then.</summary>
    public static bool HasSteal(IEnumerable<ResultRow> rows) => rows.Any(r => r.Experiment.GuestCpu is { Steal: > 0 });

    /// <summary>The guests' mean steal time over the counted rounds, in % of their CPU time.</summary>
    public static string Steal(ExperimentResult e) => e.GuestCpu is { } c ? c.Steal.ToString("0.0#", CultureInfo.InvariantCulture) + " %" : "—";

    /// <summary>A plain-text rendering (fixed columns) for logs and snapshot tests.</summary>
    public static string ToText(IEnumerable<ResultRow> rows)
    {
        var list = rows.ToList();
        var steal = HasSteal(list);
        var header = new List<string> { "platform", "guest", "workload", "parameters", "scheme", "n", "failed", "mean ± 95% CI", "CV", "ratio to native [95% CI]" };
        if (steal)
        {
            header.Add("steal");
        }

        header.Add("warnings");
        var data = list.Select(r =>
        {
            var cells = new List<string>
            {
                r.Experiment.Platform, r.Experiment.GuestLabel, r.Experiment.Workload, Parameters(r.Experiment), r.Experiment.Scheme,
                (r.Statistics?.N ?? 0).ToString(CultureInfo.InvariantCulture), r.Experiment.FailedCount.ToString(CultureInfo.InvariantCulture),
                MeanCi(r.Statistics, r.Experiment.Metric), r.Statistics is { N: > 1 } s ? s.CoefficientOfVariation.ToString("P1", CultureInfo.InvariantCulture) : "—",
                Ratio(r),
            };
            if (steal)
            {
                cells.Add(Steal(r.Experiment));
            }

            cells.Add(string.Join("; ", r.Conclusions.Where(c => c.Kind != Analysers.ConclusionKind.Hint).Select(c => c.Code)));
            return cells.ToArray();
        }).ToList();
        return TextTable.Render(header, data);
    }
}

/// <summary>A plain-text table with aligned columns.</summary>
public static class TextTable
{
    public static string Render(IReadOnlyList<string> header, IReadOnlyList<string[]> data)
    {
        var widths = header.Select((h, i) => Math.Max(h.Length, data.Count == 0 ? 0 : data.Max(d => d[i].Length))).ToArray();
        var sb = new StringBuilder();
        sb.AppendLine(string.Join("  ", header.Select((h, i) => h.PadRight(widths[i]))).TrimEnd());
        sb.AppendLine(string.Join("  ", widths.Select(w => new string('-', w))));
        foreach (var d in data)
        {
            sb.AppendLine(string.Join("  ", d.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
        }

        return sb.ToString();
    }
}

/// <summary>CSV and JSON exports (schema: docs/exports.md). Invariant culture, seconds as plain decimals.</summary>
public static class Exporters
{
    public const int JsonSchemaVersion = 1;

    public static string RoundsCsv(IEnumerable<ExperimentResult> experiments)
    {
        var sb = new StringBuilder("campaign,experiment_id,workload,parameters,platform,guest_index,guest,scheme,round,outcome,seconds,guest_seconds,guest_start_epoch,exit_code,reason,recorded_unix_ms,metrics,warmup\n");
        foreach (var e in experiments)
        {
            foreach (var r in e.Rounds.OrderBy(r => r.GuestIndex).ThenBy(r => r.Round))
            {
                sb.AppendJoin(',', [
                    Csv(e.Campaign), e.Id.ToString(), Csv(e.Workload), Csv(ResultsTable.Parameters(e)), Csv(e.Platforms[r.GuestIndex]),
                    r.GuestIndex.ToString(CultureInfo.InvariantCulture), Csv(r.Guest), Csv(e.Scheme), r.Round.ToString(CultureInfo.InvariantCulture),
                    r.Measured ? "measured" : "failed", Num(r.Seconds), Num(r.GuestSeconds), Num(r.GuestStartEpoch),
                    r.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "", Csv(r.Reason ?? ""), r.RecordedUnixMs.ToString(CultureInfo.InvariantCulture),
                    Csv(r.Metrics is null ? "" : string.Join(";", r.Metrics.OrderBy(m => m.Key).Select(m => $"{m.Key}={Num(m.Value)}"))),
                    r.Warmup ? "true" : "false"]);
                sb.Append('\n');
            }
        }

        return sb.ToString();
    }

    public static string ExperimentsCsv(IEnumerable<ResultRow> rows)
    {
        var sb = new StringBuilder("campaign,experiment_id,workload,parameters,platform,guests,scheme,status,metric,unit,n,failed,mean,sd,ci95_low,ci95_high,median,min,max,cv,ratio_to_native,ratio_ci95_low,ratio_ci95_high,warnings,warmup_rounds,guest_cpu_user_pct,guest_cpu_system_pct,guest_cpu_iowait_pct,guest_cpu_steal_pct,host_cpu_user_pct,host_cpu_system_pct,host_cpu_iowait_pct,host_cpu_steal_pct\n");
        foreach (var r in rows)
        {
            var e = r.Experiment;
            var s = r.Statistics;
            sb.AppendJoin(',', [
                Csv(e.Campaign), e.Id.ToString(), Csv(e.Workload), Csv(ResultsTable.Parameters(e)), Csv(e.Platform), Csv(e.GuestLabel), Csv(e.Scheme),
                e.Status, e.Metric.Name, Csv(e.Metric.Unit), (s?.N ?? 0).ToString(CultureInfo.InvariantCulture), e.FailedCount.ToString(CultureInfo.InvariantCulture),
                Num(s?.Mean), Num(s is { N: > 1 } ? s.StandardDeviation : null), Num(s is { N: > 1 } ? s.Interval.Lower : null), Num(s is { N: > 1 } ? s.Interval.Upper : null),
                Num(s?.Median), Num(s?.Min), Num(s?.Max), Num(s is { N: > 1 } ? s.CoefficientOfVariation : null),
                Num(r.RatioToBaseline?.Value), Num(r.RatioToBaseline is { Bounded: true } q ? q.Interval.Lower : null), Num(r.RatioToBaseline is { Bounded: true } q2 ? q2.Interval.Upper : null),
                Csv(string.Join("; ", r.Conclusions.Select(c => c.Code))), e.Rounds.Count(x => x.Warmup).ToString(CultureInfo.InvariantCulture),
                Num(e.GuestCpu?.User), Num(e.GuestCpu?.System), Num(e.GuestCpu?.Iowait), Num(e.GuestCpu?.Steal),
                Num(e.HostCpu?.User), Num(e.HostCpu?.System), Num(e.HostCpu?.Iowait), Num(e.HostCpu?.Steal)]);
            sb.Append('\n');
        }

        return sb.ToString();
    }

    private static JsonObject? CpuJson(CpuShares? c) => c is null ? null : new JsonObject
    {
        ["user_pct"] = c.User,
        ["system_pct"] = c.System,
        ["iowait_pct"] = c.Iowait,
        ["steal_pct"] = c.Steal,
        ["idle_pct"] = c.Idle,
    };

    public static string Json(IEnumerable<ResultRow> rows, IReadOnlyDictionary<string, IReadOnlyList<(int Seq, Guid Experiment, int FirstRound, int Rounds)>> runOrder)
    {
        var root = new JsonObject
        {
            ["schema"] = "horizon-results",
            ["schema_version"] = JsonSchemaVersion,
            ["experiments"] = new JsonArray([.. rows.Select(r => (JsonNode)ExperimentJson(r))]),
            ["run_order"] = new JsonObject(runOrder.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)new JsonArray([.. kv.Value.Select(x => (JsonNode)new JsonObject
            {
                ["seq"] = x.Seq,
                ["experiment_id"] = x.Experiment.ToString(),
                ["first_round"] = x.FirstRound,
                ["rounds"] = x.Rounds,
            })])))),
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static JsonObject ExperimentJson(ResultRow r)
    {
        var e = r.Experiment;
        var s = r.Statistics;
        JsonNode? environment;
        try
        {
            environment = JsonNode.Parse(e.EnvironmentJson);
        }
        catch (JsonException)
        {
            environment = null;
        }

        return new JsonObject
        {
            ["id"] = e.Id.ToString(),
            ["campaign"] = e.Campaign,
            ["key"] = e.Key,
            ["workload"] = e.Workload,
            ["parameters"] = new JsonObject(e.Parameters.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))),
            ["guests"] = new JsonArray([.. e.Guests.Select(g => (JsonNode)g)]),
            ["platforms"] = new JsonArray([.. e.Platforms.Select(g => (JsonNode)g)]),
            ["scheme"] = e.Scheme,
            ["status"] = e.Status,
            ["stop_reason"] = e.StopReason,
            ["note"] = e.Note,
            ["environment"] = environment,
            ["statistics"] = s is null ? null : new JsonObject
            {
                ["metric"] = e.Metric.Name,
                ["unit"] = e.Metric.Unit,
                ["higher_is_better"] = e.Metric.HigherIsBetter,
                ["n"] = s.N,
                ["mean"] = s.Mean,
                ["sd"] = s.N > 1 ? s.StandardDeviation : null,
                ["ci95_low"] = s.N > 1 ? s.Interval.Lower : null,
                ["ci95_high"] = s.N > 1 ? s.Interval.Upper : null,
                ["median"] = s.Median,
                ["min"] = s.Min,
                ["max"] = s.Max,
                ["cv"] = s.N > 1 ? s.CoefficientOfVariation : null,
            },
            ["failed_rounds"] = e.FailedCount,
            ["warmup_rounds"] = e.Rounds.Count(x => x.Warmup),
            ["guest_cpu"] = CpuJson(e.GuestCpu),
            ["host_cpu"] = CpuJson(e.HostCpu),
            ["ratio_to_native"] = r.RatioToBaseline is null ? null : new JsonObject
            {
                ["value"] = r.RatioToBaseline.Value,
                ["ci95_low"] = r.RatioToBaseline.Bounded ? r.RatioToBaseline.Interval.Lower : null,
                ["ci95_high"] = r.RatioToBaseline.Bounded ? r.RatioToBaseline.Interval.Upper : null,
                ["baseline_guests"] = r.Baseline,
            },
            ["warnings"] = new JsonArray([.. r.Conclusions.Select(c => (JsonNode)new JsonObject { ["code"] = c.Code, ["kind"] = c.Kind.ToString().ToLowerInvariant(), ["message"] = c.Message })]),
            ["rounds"] = new JsonArray([.. e.Rounds.OrderBy(x => x.GuestIndex).ThenBy(x => x.Round).Select(x => (JsonNode)new JsonObject
            {
                ["guest_index"] = x.GuestIndex,
                ["guest"] = x.Guest,
                ["round"] = x.Round,
                ["outcome"] = x.Measured ? "measured" : "failed",
                ["warmup"] = x.Warmup,
                ["seconds"] = x.Seconds,
                ["guest_seconds"] = x.GuestSeconds,
                ["guest_start_epoch"] = x.GuestStartEpoch,
                ["exit_code"] = x.ExitCode,
                ["reason"] = x.Reason,
                ["recorded_unix_ms"] = x.RecordedUnixMs,
                ["metrics"] = x.Metrics is null ? null : new JsonObject(x.Metrics.OrderBy(m => m.Key).Select(m => KeyValuePair.Create(m.Key, (JsonNode?)m.Value))),
            })]),
        };
    }

    private static string Num(double? v) => v?.ToString("R", CultureInfo.InvariantCulture) ?? "";

    private static string Csv(string s) => s.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : s;
}
