using System.Globalization;
using Horizon.Reports;
using Horizon.Results;
using ScottPlot;

namespace Horizon.Figures;

/// <summary>A figure written as PNG and SVG side by side (same name, two extensions).</summary>
public sealed record FigureFile(string Name, string Title, string PngPath, string SvgPath);

/// <summary>The study's figures, drawn with ScottPlot: bars with 95% CI error bars, per-round series, per-scheme bars.</summary>
public static class StudyFigures
{
    private const int Width = 900;
    private const int Height = 480;

    private static readonly Color[] Palette =
    [
        Color.FromHex("#1f77b4"), Color.FromHex("#ff7f0e"), Color.FromHex("#2ca02c"), Color.FromHex("#d62728"),
        Color.FromHex("#9467bd"), Color.FromHex("#8c564b"), Color.FromHex("#e377c2"), Color.FromHex("#7f7f7f"),
    ];

    private static FigureFile Save(Plot plot, string dir, string name, string title)
    {
        Directory.CreateDirectory(dir);
        var png = Path.Combine(dir, name + ".png");
        var svg = Path.Combine(dir, name + ".svg");
        plot.SavePng(png, Width, Height);
        plot.SaveSvg(svg, Width, Height);
        return new FigureFile(name, title, png, svg);
    }

    /// <summary>A file name from a label: readable, short, and unique (a hash of the whole label at the end).</summary>
    public static string Slug(string text)
    {
        var words = System.Text.RegularExpressions.Regex.Replace(text.ToLowerInvariant(), "[^a-z0-9]+", "-").Trim('-');
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)))[..8];
        return $"{(words.Length > 48 ? words[..48].TrimEnd('-') : words)}-{hash}";
    }

    private static string Unit(ExperimentResult e) => e.Metric.Name == "duration" ? "s per round" : $"{e.Metric.Name} ({e.Metric.Unit})";

    /// <summary>Figs 6.1–6.10: one bar per platform (guest) for one workload, mean with its 95% CI as the error bar.</summary>
    public static FigureFile PlatformBars(IReadOnlyList<ResultRow> rows, string dir)
    {
        var first = rows[0].Experiment;
        var schemes = rows.Select(r => r.Experiment.Scheme).Distinct().Count() > 1;
        var plot = new Plot();
        var bars = new List<Bar>();
        var ticks = new List<Tick>();
        for (var i = 0; i < rows.Count; i++)
        {
            var s = rows[i].Statistics;
            bars.Add(new Bar
            {
                Position = i,
                Value = s?.Mean ?? 0,
                Error = s is { N: > 1 } ? s.Interval.HalfWidth : 0,
                FillColor = Palette[i % Palette.Length],
                Label = s is null ? "no data" : ResultsTable.Seconds(s.Mean),
            });
            ticks.Add(new Tick(i, $"{rows[i].Experiment.Platform}\n{rows[i].Experiment.GuestLabel}" + (schemes ? $"\n{rows[i].Experiment.Scheme}" : "")));
        }

        var bp = plot.Add.Bars(bars);
        bp.ValueLabelStyle.FontSize = 12;
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual([.. ticks]);
        plot.Axes.Margins(bottom: 0);
        var title = $"{first.Workload} {ResultsTable.Parameters(first)}".Trim();
        plot.Title(title + (first.Metric.HigherIsBetter ? " (higher is better)" : " (lower is better)"));
        plot.YLabel(Unit(first) + ", mean ± 95% CI");
        return Save(plot, dir, "bars-" + Slug($"{first.Workload}-{ResultsTable.Parameters(first)}-{(schemes ? "schemes" : first.Scheme)}"), title);
    }

    /// <summary>
    /// RFC 2544's throughput figure: zero-loss frames/s per frame size, one bar per platform (mean ± 95% CI), and the
    /// generator's own ceiling for that frame size as a dashed line over the group.
    /// </summary>
    public static FigureFile ForwardingBars(IReadOnlyList<ForwardingRow> rows, string dir)
    {
        var plot = new Plot();
        var frames = rows.Select(r => r.Frame).Distinct().Order().ToList();
        var guests = rows.Select(r => (r.Experiment.Platform, r.Experiment.GuestLabel)).Distinct().ToList();
        var width = 0.8 / guests.Count;
        var bars = new List<Bar>();
        for (var f = 0; f < frames.Count; f++)
        {
            for (var g = 0; g < guests.Count; g++)
            {
                if (rows.FirstOrDefault(r => r.Frame == frames[f] && (r.Experiment.Platform, r.Experiment.GuestLabel) == guests[g]) is not { Throughput: { } s })
                {
                    continue;
                }

                bars.Add(new Bar
                {
                    Position = f - 0.4 + (width * (g + 0.5)),
                    Size = width * 0.9,
                    Value = s.Mean,
                    Error = s.N > 1 ? s.Interval.HalfWidth : 0,
                    FillColor = Palette[g % Palette.Length],
                    Label = ForwardingTable.Pps(s.Mean),
                });
            }

            var ceilings = rows.Where(r => r.Frame == frames[f] && r.CeilingPps is not null).Select(r => r.CeilingPps!.Value).ToList();
            if (ceilings.Count > 0)
            {
                var line = plot.Add.Line(f - 0.45, ceilings.Average(), f + 0.45, ceilings.Average());
                line.LinePattern = LinePattern.Dashed;
                line.Color = Colors.Black;
                line.LegendText = f == 0 ? "generator alone (no guest)" : "";
            }
        }

        var bp = plot.Add.Bars(bars);
        bp.ValueLabelStyle.FontSize = 11;
        for (var g = 0; g < guests.Count; g++)
        {
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = $"{guests[g].Platform} ({guests[g].GuestLabel})", FillColor = Palette[g % Palette.Length] });
        }

        plot.ShowLegend(Alignment.UpperRight);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual([.. frames.Select((f, i) => new Tick(i, $"{f} B frames"))]);
        plot.Axes.Margins(bottom: 0);
        var first = rows[0];
        var title = $"forward: zero-loss throughput, {first.Routes:N0} route(s), {first.Experiment.Scheme}";
        plot.Title(title + " (higher is better)");
        plot.YLabel("frames/s, mean ± 95% CI");
        return Save(plot, dir, "forward-" + Slug($"{first.Routes}-{first.Experiment.Scheme}-{string.Join(",", rows.Select(r => r.Experiment.Id))}"), title);
    }

    /// <summary>Fig 6.5: every round's value in run order, one series per guest, failed rounds marked on the axis.</summary>
    public static FigureFile RoundSeries(ExperimentResult e, string dir)
    {
        var plot = new Plot();
        for (var g = 0; g < e.Guests.Length; g++)
        {
            var rounds = e.Rounds.Where(r => r.GuestIndex == g).OrderBy(r => r.Round).ToList();
            var measured = rounds.Where(r => r.Counts && r.Value(e.Metric) is not null).ToList();
            var warmup = rounds.Where(r => r.Warmup && r.Measured && r.Value(e.Metric) is not null).ToList();
            if (warmup.Count > 0)
            {
                // Warm-up rounds are drawn (hollow, grey) where they ran, so a cold first round is visible; they are not in the statistics.
                var w = plot.Add.Markers(warmup.Select(r => (double)r.Round).ToArray(), warmup.Select(r => r.Value(e.Metric)!.Value).ToArray(), MarkerShape.OpenCircle, 7, Colors.Gray);
                w.LegendText = g == 0 ? "warm-up" : "";
            }

            if (measured.Count > 0)
            {
                var sc = plot.Add.Scatter(measured.Select(r => (double)r.Round).ToArray(), measured.Select(r => r.Value(e.Metric)!.Value).ToArray(), Palette[g % Palette.Length]);
                sc.LegendText = e.Guests[g];
                sc.MarkerSize = 6;
            }

            var failed = rounds.Where(r => !r.Measured).ToList();
            if (failed.Count > 0)
            {
                var f = plot.Add.Markers(failed.Select(r => (double)r.Round).ToArray(), failed.Select(_ => 0.0).ToArray(), MarkerShape.Eks, 9, Colors.Red);
                f.LegendText = $"{e.Guests[g]}: failed round";
            }
        }

        if (e.Statistics is { } s)
        {
            var line = plot.Add.HorizontalLine(s.Mean, 1, Colors.Black, LinePattern.Dashed);
            line.LegendText = $"mean {ResultsTable.MeanCi(s)}";
        }

        // Rounds are whole numbers: ticks only there; the legend beside the data, never over it.
        var last = Math.Max(1, e.Rounds.Select(r => r.Round).DefaultIfEmpty(0).Max());
        var step = Math.Max(1, (int)Math.Ceiling(last / 10.0));
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            [.. Enumerable.Range(0, (last / step) + 1).Select(i => new Tick(i * step, (i * step).ToString(CultureInfo.InvariantCulture)))]);
        plot.ShowLegend(Edge.Right);
        var title = $"{e.Workload} {ResultsTable.Parameters(e)} on {e.Platform} ({e.Scheme}), per round".Trim();
        plot.Title(title);
        plot.XLabel("round");
        plot.YLabel(Unit(e));
        return Save(plot, dir, "rounds-" + Slug($"{e.Workload}-{e.Platform}-{e.Scheme}-{e.Guests.Length}-{e.Id.ToString()[..8]}"), title);
    }

    /// <summary>Figs 6.14–6.28: per guest count, one bar per CPU scheme (mean per guest ± 95% CI), fairness under each bar group.</summary>
    public static FigureFile SchemeBars(IReadOnlyList<ScalingRow> rows, string dir)
    {
        var first = rows[0].Experiment;
        var schemes = rows.Select(r => r.Scheme).Distinct().OrderBy(s => s switch { "default" => 0, "exclusive" => 1, _ => 2 }).ToList();
        var counts = rows.Select(r => r.Guests).Distinct().Order().ToList();
        var plot = new Plot();
        var width = 0.8 / schemes.Count;
        for (var si = 0; si < schemes.Count; si++)
        {
            var bars = new List<Bar>();
            for (var ci = 0; ci < counts.Count; ci++)
            {
                var row = rows.FirstOrDefault(r => r.Scheme == schemes[si] && r.Guests == counts[ci]);
                var s = row?.All;
                bars.Add(new Bar
                {
                    Position = ci + ((si - ((schemes.Count - 1) / 2.0)) * width),
                    Size = width * 0.95,
                    Value = s?.Mean ?? 0,
                    Error = s is { N: > 1 } ? s.Interval.HalfWidth : 0,
                    FillColor = Palette[si % Palette.Length],
                    Label = row is null ? "" : s is null ? "failed" : row.Fairness is { } f ? $"J={f:0.00}" : "",
                });
            }

            var bp = plot.Add.Bars(bars);
            bp.LegendText = schemes[si];
            bp.ValueLabelStyle.FontSize = 10;
        }

        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            [.. counts.Select((c, i) => new Tick(i, c == 1 ? "1 guest" : $"{c} guests at once"))]);
        plot.Axes.Margins(bottom: 0);
        plot.ShowLegend(Edge.Right);
        var title = $"{first.Workload} {ResultsTable.Parameters(first)} on {first.Platform}: per guest, by CPU scheme (J = Jain's fairness)".Trim();
        plot.Title(title);
        plot.YLabel(Unit(first) + " ± 95% CI");
        return Save(plot, dir, "schemes-" + Slug($"{first.Workload}-{ResultsTable.Parameters(first)}-{first.Platform}"), title);
    }

    /// <summary>The measurement path's cost as simulated guests grow (horizon bench scale): delays on a log axis.</summary>
    public static FigureFile ScaleCost(IReadOnlyList<(int Guests, double P50Ms, double P99Ms, double MaxMs, double KiBPerGuest)> points, string dir)
    {
        var plot = new Plot();
        double[] xs = [.. points.Select(p => Math.Log10(p.Guests))];
        void Series(Func<(int, double, double, double, double), double> y, string label, Color color)
        {
            var sc = plot.Add.Scatter(xs, [.. points.Select(p => Math.Log10(Math.Max(1e-3, y(p))))], color);
            sc.LegendText = label;
            sc.MarkerSize = 7;
        }

        Series(p => p.Item2, "arrival → recorded p50", Palette[0]);
        Series(p => p.Item3, "p99", Palette[1]);
        Series(p => p.Item4, "max", Palette[3]);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual([.. points.Select(p => new Tick(Math.Log10(p.Guests), p.Guests.ToString("N0", CultureInfo.InvariantCulture)))]);
        var ms = new[] { 0.1, 1, 10, 100, 1000, 10000 };
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual([.. ms.Select(m => new Tick(Math.Log10(m), m < 1 ? $"{m} ms" : $"{m:N0} ms"))]);
        plot.ShowLegend(Alignment.MiddleRight);
        plot.Title("probe arrival to round recorded, by simulated guests (log scales)");
        plot.XLabel("guests");
        plot.YLabel("delay");
        return Save(plot, dir, "bench-scale", "bench scale");
    }
}
