using System.Globalization;
using System.Net;
using System.Text;
using Horizon.Reports;
using Horizon.Results;

namespace Horizon.Figures;

/// <summary>
/// One self-contained directory: report.html with the study-style tables and every figure (SVG shown, PNG linked),
/// plus the CSV/JSON exports beside it. Opens from disk, no server, no script from elsewhere.
/// </summary>
public static class HtmlReport
{
    private sealed record EnvironmentRow(string Guest, string Platform, string Cpu, string Kernel, string Memory, string Placement);

    /// <summary>The recorded environment's guests, one row each; an environment that cannot be read gives no rows.</summary>
    private static List<EnvironmentRow> EnvironmentRows(string json)
    {
        var rows = new List<EnvironmentRow>();
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(json);
            if (!doc.RootElement.TryGetProperty("guests", out var guests) || guests.ValueKind != System.Text.Json.JsonValueKind.Array)
            {
                return rows;
            }

            foreach (var g in guests.EnumerateArray())
            {
                string S(string name) => g.TryGetProperty(name, out var v) ? v.ValueKind == System.Text.Json.JsonValueKind.String ? v.GetString() ?? "" : v.ToString() : "";
                var memory = g.TryGetProperty("memory_bytes", out var m) && m.TryGetInt64(out var bytes) && bytes > 0 ? $"{bytes / (1024.0 * 1024 * 1024):0.0} GiB" : "";
                var placement = g.TryGetProperty("placement", out var p) && p.ValueKind == System.Text.Json.JsonValueKind.Object
                    ? $"{(p.TryGetProperty("adapter", out var a) ? a.GetString() : "")}: {(p.TryGetProperty("planned", out var pl) ? pl.ToString() : "")}{(p.TryGetProperty("read_back", out var rb) ? " → " + rb.ToString() : "")}"
                    : S("affinity");
                rows.Add(new EnvironmentRow(S("name"), $"{S("platform")} / {S("transport")}", $"{S("cpu_model")} ({S("cpus")} CPUs, {S("sockets")} socket(s))",
                    S("kernel"), memory, placement));
            }
        }
        catch (System.Text.Json.JsonException)
        {
        }

        return rows;
    }

    public static string Write(string campaign, IReadOnlyList<ExperimentResult> experiments, IReadOnlyList<(int Seq, Guid Experiment, int FirstRound, int Rounds)> runOrder, string outDir)
    {
        var figuresDir = Path.Combine(outDir, "figures");
        if (Directory.Exists(figuresDir))
        {
            Directory.Delete(figuresDir, recursive: true);
        }

        Directory.CreateDirectory(figuresDir);
        var rows = ResultsTable.Build(experiments);
        var blocks = runOrder.GroupBy(o => o.Experiment).ToDictionary(g => g.Key, g => (IReadOnlyList<int>)[.. g.Select(o => o.FirstRound)]);
        var scaling = ScalingTable.Build(experiments, blocks);
        var sb = new StringBuilder();
        string H(string? s) => WebUtility.HtmlEncode(s ?? "");
        sb.Append(CultureInfo.InvariantCulture, $$"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>Horizon report: {{H(campaign)}}</title>
            <style>
            body { font-family: sans-serif; margin: 2em; color: #222; }
            table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
            th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
            th { background: #f3f3f3; }
            td.num { text-align: right; font-variant-numeric: tabular-nums; }
            .failed { color: #b00; }
            figure { display: inline-block; margin: 1em 1em 1em 0; }
            figure img { width: 720px; border: 1px solid #ddd; }
            .note { color: #666; font-size: 0.85em; }
            </style></head>
            <body data-images="pending">
            <h1>Horizon report: {{H(campaign)}}</h1>
            <p class="note">Generated {{DateTime.UtcNow:yyyy-MM-dd HH:mm}} UTC from {{experiments.Count}} experiment(s), {{experiments.Sum(e => e.Rounds.Length)}} round(s).
            Round durations are timed outside the guests from authenticated UDP probes; intervals are Student-t 95% CIs;
            ratios to native carry Fieller 95% CIs. Data: <a href="{{H(campaign)}}.json">JSON</a>, <a href="{{H(campaign)}}.experiments.csv">experiments CSV</a>, <a href="{{H(campaign)}}.rounds.csv">rounds CSV</a>.</p>
            <h2>Results</h2>
            <table><tr><th>platform</th><th>guests</th><th>workload</th><th>parameters</th><th>scheme</th><th>n</th><th>failed</th><th>mean ± 95% CI</th><th>CV</th><th>ratio to native [95% CI]</th><th>guest CPU (mean of rounds)</th><th>status</th><th>warnings</th></tr>

            """);
        foreach (var r in rows)
        {
            var e = r.Experiment;
            sb.Append(CultureInfo.InvariantCulture, $"<tr><td>{H(e.Platform)}</td><td>{H(e.GuestLabel)}</td><td>{H(e.Workload)}</td><td>{H(ResultsTable.Parameters(e))}</td><td>{H(e.Scheme)}</td>" +
                $"<td class=\"num\">{r.Statistics?.N ?? 0}</td><td class=\"num{(e.FailedCount > 0 ? " failed" : "")}\">{e.FailedCount}</td><td class=\"num\">{H(ResultsTable.MeanCi(r.Statistics, e.Metric))}</td>" +
                $"<td class=\"num\">{(r.Statistics is { N: > 1 } s ? s.CoefficientOfVariation.ToString("P1", CultureInfo.InvariantCulture) : "—")}</td><td>{H(ResultsTable.Ratio(r))}</td><td>{H(e.GuestCpu?.ToString() ?? "—")}{(e.HostCpu is { } hc ? "<br><span class=\"note\">host: " + H(hc.ToString()) + "</span>" : "")}</td>" +
                $"<td{(e.Status == "Completed" ? "" : " class=\"failed\"")}>{H(e.Status)}{(e.Note is null ? "" : ": " + H(e.Note))}</td><td>{string.Join("<br>", r.Conclusions.Where(c => c.Kind != Analysers.ConclusionKind.Hint).Select(c => $"<b>{H(c.Code)}</b>: {H(c.Message)}"))}</td></tr>\n");
        }

        sb.Append("</table>\n");

        // What each experiment ran on, as recorded before its first block: someone reading the report elsewhere needs it.
        sb.Append("<h2>Environment per experiment</h2>\n<table><tr><th>experiment</th><th>guest</th><th>platform / transport</th><th>CPU</th><th>kernel</th><th>memory</th><th>placement planned → read back</th></tr>\n");
        foreach (var e in experiments)
        {
            foreach (var g in EnvironmentRows(e.EnvironmentJson))
            {
                sb.Append(CultureInfo.InvariantCulture, $"<tr><td>{H($"{e.Workload} {ResultsTable.Parameters(e)} [{e.Scheme}]")}{(e.Campaign == campaign ? "" : $" <span class=\"note\">({H(e.Campaign)})</span>")}</td>" +
                    $"<td>{H(g.Guest)}</td><td>{H(g.Platform)}</td><td>{H(g.Cpu)}</td><td>{H(g.Kernel)}</td><td class=\"num\">{H(g.Memory)}</td><td>{H(g.Placement)}</td></tr>\n");
            }
        }

        sb.Append("</table>\n");

        // The 2009 study's findings, each judged by its stated rule on these campaigns.
        sb.Append("<h2>The study's findings, checked</h2>\n<table><tr><th>section</th><th>finding</th><th>rule</th><th>here</th><th>decided by</th></tr>\n");
        foreach (var f in StudyFindings.Evaluate(experiments))
        {
            var css = f.Status switch { FindingStatus.NotReproduced => " class=\"failed\"", FindingStatus.NotMeasured => " class=\"note\"", _ => "" };
            sb.Append(CultureInfo.InvariantCulture, $"<tr><td>{H(f.Section)}</td><td>{H(f.Claim)}</td><td class=\"note\">{H(f.Rule)}</td><td{css}>{H(StudyFindings.Word(f.Status))}</td><td>{H(f.Evidence)}</td></tr>\n");
        }

        sb.Append("</table>\n");
        if (ForwardingTable.Build(experiments) is { Length: > 0 } forwarding)
        {
            sb.Append("<h2>Forwarding (RFC 2544 zero-loss throughput)</h2>\n<p class=\"note\">Each round is one binary search for the highest rate with no loss; the generator's own ceiling is the same search over the peer's direct source–sink link, no guest in between. Every trial of every search is in the rounds export (metrics trialNN.*).</p>\n<table><tr>");
            foreach (var h in ForwardingTable.Header)
            {
                sb.Append(CultureInfo.InvariantCulture, $"<th>{H(h)}</th>");
            }

            sb.Append("</tr>\n");
            foreach (var r in forwarding)
            {
                var cells = ForwardingTable.Cells(r);
                sb.Append("<tr>");
                for (var i = 0; i < cells.Length; i++)
                {
                    sb.Append(CultureInfo.InvariantCulture, $"<td{(i is 0 or 1 or >= 5 and <= 10 ? " class=\"num\"" : "")}>{H(cells[i])}</td>");
                }

                sb.Append("</tr>\n");
            }

            sb.Append("</table>\n");
        }

        void Figure(FigureFile f) =>
            sb.Append(CultureInfo.InvariantCulture, $"<figure><img src=\"figures/{H(Path.GetFileName(f.SvgPath))}\" alt=\"{H(f.Title)}\"><figcaption>{H(f.Title)} (<a href=\"figures/{H(Path.GetFileName(f.PngPath))}\">PNG</a>)</figcaption></figure>\n");

        // RFC 2544's throughput by frame size, per routing-table size and scheme (one-guest experiments).
        foreach (var g in ForwardingTable.Build(experiments).Where(r => r.Experiment.Guests.Length == 1 && r.Search).GroupBy(r => (r.Routes, r.Experiment.Scheme)))
        {
            Figure(StudyFigures.ForwardingBars([.. g], figuresDir));
        }

        // Figs 6.1–6.10: single-guest experiments, one figure per workload, parameters and scheme, one bar per platform.
        var single = rows.Where(r => r.Experiment.Guests.Length == 1 && r.Statistics is not null)
            .GroupBy(r => (r.Experiment.Workload, P: ResultsTable.Parameters(r.Experiment), r.Experiment.Scheme)).ToList();
        var compared = single.Where(g => g.Count() > 1).ToList();
        if (compared.Count > 0)
        {
            sb.Append("<h2>Platforms compared (one guest)</h2>\n");
            foreach (var g in compared)
            {
                Figure(StudyFigures.PlatformBars([.. g], figuresDir));
            }
        }
        else if (single.Count > 0)
        {
            // One platform: a bar alone compares nothing. Compare its CPU schemes instead, where there are several.
            var bySchemes = single.SelectMany(g => g).GroupBy(r => (r.Experiment.Workload, P: ResultsTable.Parameters(r.Experiment))).Where(g => g.Count() > 1).ToList();
            sb.Append(bySchemes.Count > 0 ? "<h2>CPU schemes compared (one guest, one platform)</h2>\n"
                : "<h2>One platform</h2>\n<p class=\"note\">Every workload ran on one platform under one scheme: there is nothing to set side by side as bars. " +
                  "The table above gives each mean ± 95% CI; the per-round figures below show how the rounds spread; `horizon compare` sets this run against another.</p>\n");
            foreach (var g in bySchemes)
            {
                Figure(StudyFigures.PlatformBars([.. g], figuresDir));
            }
        }

        var multi = scaling.Where(r => r.Guests > 1).ToList();
        if (multi.Count > 0 || experiments.Select(e => e.Scheme).Distinct().Count() > 1)
        {
            sb.Append("<h2>Several guests at once: scaling and fairness by CPU scheme</h2>\n");
            sb.Append("<p class=\"note\">Per guest: each guest's own mean ± 95% CI. Fairness: Jain's index over the guests' throughput (1 = equal shares). " +
                "Slowdown: the experiment's mean against the 1-guest run of the same scheme (for durations, N guests on one core should be about N×). " +
                "Start skew: the largest spread of the guests' start probes over the rounds the start barrier released together.</p>\n");
            sb.Append("<table><tr><th>platform</th><th>workload</th><th>parameters</th><th>scheme</th><th>guests</th><th>mean ± 95% CI (all guests)</th><th>per guest</th><th>fairness (Jain)</th><th>slowdown vs 1 guest</th><th>start skew</th><th>aggregate</th><th>loss / jitter per guest</th><th>status</th></tr>\n");
            foreach (var r in scaling)
            {
                sb.Append(CultureInfo.InvariantCulture, $"<tr><td>{H(r.Platform)}</td><td>{H(r.Workload)}</td><td>{H(r.Parameters)}</td><td>{H(r.Scheme)}</td><td class=\"num\">{r.Guests}</td>" +
                    $"<td class=\"num\">{H(ResultsTable.MeanCi(r.All, r.Experiment.Metric))}</td><td>{string.Join("<br>", r.PerGuest.Select(p => H($"{p.Guest}: {ResultsTable.MeanCi(p.Statistics)}{(p.Failed > 0 ? $" ({p.Failed} failed)" : "")}")))}</td>" +
                    $"<td class=\"num\">{(r.Fairness is { } f ? f.ToString("0.000", CultureInfo.InvariantCulture) : "—")}</td><td class=\"num\">{(r.Slowdown is { } s ? s.ToString("0.00", CultureInfo.InvariantCulture) + "×" : "—")}</td>" +
                    $"<td class=\"num\">{(r.StartSkewSeconds is { } k ? (k * 1000).ToString("0.0", CultureInfo.InvariantCulture) + " ms" : "—")}</td>" +
                    $"<td class=\"num\">{(r.Aggregate is { } a ? H(a.ToString("0.##", CultureInfo.InvariantCulture) + " " + r.Experiment.Metric.Unit) : "—")}</td>" +
                    $"<td>{(r.Network.IsEmpty ? "—" : string.Join("<br>", r.Network.Select(n => H(string.Create(CultureInfo.InvariantCulture, $"{n.Guest}: {n.LossPercent:0.##} % / {n.JitterMs:0.###} ms")))))}</td>" +
                    $"<td{(r.Experiment.Status == "Completed" ? "" : " class=\"failed\"")}>{H(r.Experiment.Status)}{(r.Experiment.Note is null ? "" : ": " + H(r.Experiment.Note))}</td></tr>\n");
            }

            sb.Append("</table>\n");
            // Only where there is something to set side by side (several guest counts or schemes): no lone bar.
            foreach (var g in scaling.Where(r => r.All is not null).GroupBy(r => (r.Platform, r.Workload, r.Parameters)).Where(g => g.Count() > 1))
            {
                Figure(StudyFigures.SchemeBars([.. g], figuresDir));
                // Figs 6.14–6.28: one figure per scheme, a bar per guest.
                foreach (var scheme in g.Where(r => r.Guests > 1).GroupBy(r => r.Scheme))
                {
                    Figure(AllocationFigures.PerGuestBars([.. g.Where(r => r.Scheme == scheme.Key)], figuresDir));
                }
            }

            // Figs 6.11–6.13: where each vCPU could run under each scheme, from the placement read back (the most guests).
            sb.Append("<h3>CPU allocation as read back</h3>\n");
            foreach (var e in scaling.GroupBy(r => (r.Platform, r.Scheme)).Select(g => g.MaxBy(r => r.Guests)!.Experiment))
            {
                if (AllocationFigures.Diagram(e, figuresDir) is { } diagram)
                {
                    Figure(diagram);
                }
            }
        }

        sb.Append("<h2>Every round (fig. 6.5 style)</h2>\n");
        foreach (var e in experiments.Where(e => e.Rounds.Length > 0))
        {
            Figure(StudyFigures.RoundSeries(e, figuresDir));
        }

        sb.Append("""
            <script>
            // For readers and tests alike: whether every figure really loaded.
            window.addEventListener('load', function () {
              var imgs = Array.prototype.slice.call(document.images);
              var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
              document.body.setAttribute('data-images', ok + '/' + imgs.length);
            });
            </script>
            </body></html>
            """);
        var path = Path.Combine(outDir, "report.html");
        File.WriteAllText(path, sb.ToString());
        File.WriteAllText(Path.Combine(outDir, $"{campaign}.json"), Exporters.Json(rows, new Dictionary<string, IReadOnlyList<(int, Guid, int, int)>> { [campaign] = runOrder }));
        File.WriteAllText(Path.Combine(outDir, $"{campaign}.experiments.csv"), Exporters.ExperimentsCsv(rows));
        File.WriteAllText(Path.Combine(outDir, $"{campaign}.rounds.csv"), Exporters.RoundsCsv(experiments));
        return path;
    }
}
