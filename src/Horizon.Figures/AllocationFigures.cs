using System.Globalization;
using System.Text.Json;
using Horizon.Reports;
using Horizon.Results;
using ScottPlot;

namespace Horizon.Figures;

/// <summary>
/// Figures 6.11–6.13 (where each vCPU may run) drawn from the placement Horizon actually read back for an experiment,
/// and figures 6.14–6.28 (one bar per guest, per guest count, for one CPU scheme).
/// </summary>
public static class AllocationFigures
{
    private static readonly Color[] Palette =
    [
        Color.FromHex("#1f77b4"), Color.FromHex("#ff7f0e"), Color.FromHex("#2ca02c"), Color.FromHex("#d62728"),
        Color.FromHex("#9467bd"), Color.FromHex("#8c564b"), Color.FromHex("#e377c2"), Color.FromHex("#7f7f7f"),
    ];

    /// <summary>One vCPU (or the host's control) and the host CPUs it may run on, as read back.</summary>
    public sealed record Slot(string Label, int Guest, IReadOnlySet<int> Cpus, bool Anywhere);

    /// <summary>
    /// Reads an experiment's recorded placement: per guest vCPU the CPUs read back from its platform (or, for a native
    /// guest, the affinity it ran under); "unpinned" vCPUs may run on every CPU; plus the host's control CPUs. Null when
    /// the experiment recorded no placement.
    /// </summary>
    public static (int HostCpus, IReadOnlyList<Slot> Slots)? Read(ExperimentResult e)
    {
        using var doc = JsonDocument.Parse(e.EnvironmentJson);
        if (!doc.RootElement.TryGetProperty("guests", out var guests) || guests.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        var slots = new List<Slot>();
        var hostCpus = 0;
        var recordedHostCpus = HostTopologyRecord.LogicalCpus(doc.RootElement, 0);
        var index = 0;
        foreach (var g in guests.EnumerateArray())
        {
            var name = g.GetProperty("name").GetString() ?? "?";
            hostCpus = Math.Max(hostCpus, g.TryGetProperty("cpus", out var c) && c.TryGetInt32(out var n) ? n : 0);
            if (g.TryGetProperty("placement", out var p) && p.ValueKind == JsonValueKind.Object)
            {
                var lists = p.TryGetProperty("read_back", out var rb) && rb.ValueKind == JsonValueKind.Array ? rb
                    : p.TryGetProperty("planned", out var pl) ? pl : default;
                if (lists.ValueKind == JsonValueKind.Array)
                {
                    var k = 0;
                    foreach (var v in lists.EnumerateArray())
                    {
                        slots.Add(new Slot($"{name} vCPU{k++}", index, Parse(v.GetString()), false));
                    }
                }
                else
                {
                    var text = lists.ValueKind == JsonValueKind.String ? lists.GetString() : null;
                    var vcpus = g.TryGetProperty("vcpus", out var vc) && vc.TryGetInt32(out var nv) ? nv : 1;
                    for (var k = 0; k < vcpus; k++)
                    {
                        slots.Add(new Slot($"{name} vCPU{k}", index, text is null or "unpinned" ? new HashSet<int>() : Parse(text), text is null or "unpinned"));
                    }
                }
            }

            index++;
        }

        if (doc.RootElement.TryGetProperty("host_control", out var hc) && hc.ValueKind == JsonValueKind.Object)
        {
            foreach (var host in hc.EnumerateObject())
            {
                if (host.Value.ValueKind == JsonValueKind.Object && host.Value.TryGetProperty("cpus", out var cpus) && cpus.ValueKind == JsonValueKind.String)
                {
                    slots.Add(new Slot($"{host.Name} control", -1, Parse(cpus.GetString()), false));
                }
            }
        }

        // The host's topology as placement found it; a guest's own count only where none was recorded (inside a VM it is the VM's).
        hostCpus = recordedHostCpus > 0 ? recordedHostCpus : hostCpus;
        return slots.Count == 0 || hostCpus == 0 ? null : (hostCpus, slots);
    }

    /// <summary>Figs 6.11–6.13: a column per vCPU (and the host's control), a row per host CPU, filled where it may run.</summary>
    public static FigureFile? Diagram(ExperimentResult e, string dir)
    {
        if (Read(e) is not { } placement)
        {
            return null;
        }

        var plot = new Plot();
        for (var x = 0; x < placement.Slots.Count; x++)
        {
            var slot = placement.Slots[x];
            var color = slot.Guest < 0 ? Colors.Gray : Palette[slot.Guest % Palette.Length];
            for (var cpu = 0; cpu < placement.HostCpus; cpu++)
            {
                var allowed = slot.Anywhere || slot.Cpus.Contains(cpu);
                if (!allowed)
                {
                    continue;
                }

                var r = plot.Add.Rectangle(x - 0.42, x + 0.42, cpu - 0.42, cpu + 0.42);
                // Anywhere (the platform's scheduler decides, the study's Xen default): a light cell on every CPU.
                r.FillColor = slot.Anywhere ? color.WithAlpha(0.25) : color;
                r.LineColor = color;
            }
        }

        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual([.. placement.Slots.Select((s, i) => new Tick(i, s.Label))]);
        plot.Axes.Bottom.TickLabelStyle.Rotation = -30;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleRight;
        // Room for the rotated "guest vCPUn" labels (they were cut off at the bottom edge).
        plot.Axes.Bottom.MinimumSize = 110;
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual([.. Enumerable.Range(0, placement.HostCpus).Select(c => new Tick(c, $"CPU {c}"))]);
        plot.Axes.SetLimits(-0.6, placement.Slots.Count - 0.4, -0.6, placement.HostCpus - 0.4);
        var title = string.Create(CultureInfo.InvariantCulture,
            $"{e.Scheme} scheme, {e.Guests.Length} guest(s) on {e.Platform}: where each vCPU may run (read back)");
        plot.Title(title);
        plot.YLabel("host CPU");
        return Save(plot, dir, "allocation-" + StudyFigures.Slug($"{e.Platform}-{e.Scheme}-{e.Guests.Length}-{e.Key}"), title);
    }

    /// <summary>Figs 6.14–6.28: for one workload and one scheme, per guest count a group of bars, one per guest (mean ± 95 % CI).</summary>
    public static FigureFile PerGuestBars(IReadOnlyList<ScalingRow> rows, string dir)
    {
        var first = rows[0].Experiment;
        var counts = rows.Select(r => r.Guests).Distinct().Order().ToList();
        var maxGuests = counts.Max();
        var plot = new Plot();
        var width = 0.8 / maxGuests;
        for (var g = 0; g < maxGuests; g++)
        {
            var bars = new List<Bar>();
            for (var ci = 0; ci < counts.Count; ci++)
            {
                var row = rows.First(r => r.Guests == counts[ci]);
                if (g >= row.PerGuest.Length || row.PerGuest[g].Statistics is not { } s)
                {
                    continue;
                }

                bars.Add(new Bar
                {
                    Position = ci + ((g - ((counts[ci] - 1) / 2.0)) * width),
                    Size = width * 0.95,
                    Value = s.Mean,
                    Error = s.N > 1 ? s.Interval.HalfWidth : 0,
                    FillColor = Palette[g % Palette.Length],
                });
            }

            if (bars.Count > 0)
            {
                var bp = plot.Add.Bars(bars);
                bp.LegendText = $"guest {g + 1}";
            }
        }

        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual([.. counts.Select((c, i) => new Tick(i, c == 1 ? "1 guest" : $"{c} guests at once"))]);
        plot.Axes.Margins(bottom: 0);
        plot.ShowLegend(Edge.Right);
        var title = $"{first.Workload} {ResultsTable.Parameters(first)} on {first.Platform}, {first.Scheme} scheme: each guest".Trim();
        plot.Title(title);
        plot.YLabel((first.Metric.Name == "duration" ? "s per round" : $"{first.Metric.Name} ({first.Metric.Unit})") + " ± 95% CI");
        return Save(plot, dir, "guests-" + StudyFigures.Slug($"{first.Workload}-{ResultsTable.Parameters(first)}-{first.Platform}-{first.Scheme}"), title);
    }

    /// <summary>A CPU list ("0-3,6") as a set; an empty or unreadable list is the empty set.</summary>
    public static IReadOnlySet<int> Parse(string? list)
    {
        var set = new HashSet<int>();
        foreach (var part in (list ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var range = part.Split('-');
            if (int.TryParse(range[0], CultureInfo.InvariantCulture, out var lo))
            {
                var hi = range.Length > 1 && int.TryParse(range[1], CultureInfo.InvariantCulture, out var h) ? h : lo;
                for (var c = lo; c <= hi && c - lo < 4096; c++)
                {
                    set.Add(c);
                }
            }
        }

        return set;
    }

    private static FigureFile Save(Plot plot, string dir, string name, string title)
    {
        Directory.CreateDirectory(dir);
        var png = Path.Combine(dir, name + ".png");
        var svg = Path.Combine(dir, name + ".svg");
        plot.SavePng(png, 900, 480);
        plot.SaveSvg(svg, 900, 480);
        return new FigureFile(name, title, png, svg);
    }
}
