using System.Collections.Immutable;
using Horizon.Reports;
using Horizon.Results;

namespace Horizon.Core.Tests;

/// <summary>Ratios between experiments measured by agents on different test computers say so, and warn unless the hardware matches.</summary>
public sealed class CrossMachineTests
{
    private const string Xeon = "Intel(R) Xeon(R) CPU E5-2620 v4 @ 2.10GHz";

    private static string Environment(string agent, string machine, string cpu, int cpus, long memory, string kernel) =>
        $$"""{"agent":{"id":"{{agent}}","machine":"{{machine}}","cpu_model":"{{cpu}}","cpus":{{cpus}},"memory_bytes":{{memory}},"kernel":"{{kernel}}"},"guests":[]}""";

    private static ExperimentResult Experiment(string platform, string environment, params double[] seconds) => new(
        Guid.NewGuid(), "span", $"superpi|{platform}", "superpi", ImmutableSortedDictionary<string, string>.Empty.Add("digits", "65536"),
        ["g-" + platform], [platform], "default", "Completed", null, null, environment, 0, 1_000_000, null,
        [.. seconds.Select((s, i) => new RoundResult(0, "g-" + platform, i, true, s, null, null, 0, null, 1_000_000 + i))]);

    private static readonly double[] Native = [1.00, 1.01, 0.99, 1.00, 1.02];
    private static readonly double[] Xen = [1.20, 1.21, 1.19, 1.20, 1.22];

    [Fact]
    public void Different_hardware_makes_the_ratio_a_cross_machine_warning_naming_what_differs()
    {
        var native = Experiment("native", Environment("agent-a", "lab-a", Xeon, 16, 64L << 30, "6.1.0-18-amd64"), Native);
        var xen = Experiment("xen", Environment("agent-b", "lab-b", Xeon, 8, 32L << 30, "6.1.0-18-amd64"), Xen);
        var row = ResultsTable.Build([native, xen]).Single(r => r.Experiment.Platform == "xen");

        Assert.Equal(1.2, row.RatioToBaseline!.Value, 2);
        var warning = Assert.Single(row.Conclusions, c => c.Code == "cross-machine");
        Assert.Equal(Analysers.ConclusionKind.Warning, warning.Kind);
        Assert.Contains("(core count, memory)", warning.Message, StringComparison.Ordinal);
        Assert.Contains("agent agent-a on lab-a", warning.Message, StringComparison.Ordinal);
        Assert.Contains("not interleaved on one machine", warning.Message, StringComparison.Ordinal);
        Assert.EndsWith("cross-machine", ResultsTable.Ratio(row), StringComparison.Ordinal);
    }

    [Fact]
    public void Same_hardware_on_another_computer_is_a_hint_and_still_not_interleaved_unknown_hardware_warns()
    {
        var native = Experiment("native", Environment("agent-a", "lab-a", Xeon, 16, 64L << 30, "6.1.0-18-amd64"), Native);
        // Memory as reported differs by a few MiB between two identical machines: still the same hardware.
        var twin = Experiment("xen", Environment("agent-b", "lab-b", Xeon, 16, (64L << 30) - (5L << 20), "6.1.0-18-amd64"), Xen);
        var row = ResultsTable.Build([native, twin]).Single(r => r.Experiment.Platform == "xen");
        var hint = Assert.Single(row.Conclusions, c => c.Code == "other-machine");
        Assert.Equal(Analysers.ConclusionKind.Hint, hint.Kind);
        Assert.DoesNotContain(row.Conclusions, c => c.Code == "cross-machine");
        Assert.EndsWith("not interleaved", ResultsTable.Ratio(row), StringComparison.Ordinal);

        // An agent that could not read its hardware: nothing says the machines match, so it warns.
        var unknown = Experiment("xen", """{"agent":{"id":"agent-b","machine":"lab-b"}}""", Xen);
        var warned = ResultsTable.Build([native, unknown]).Single(r => r.Experiment.Platform == "xen");
        Assert.Contains("CPU model, core count, memory, kernel", Assert.Single(warned.Conclusions, c => c.Code == "cross-machine").Message, StringComparison.Ordinal);

        // Same agent, same machine: neither.
        var local = Experiment("xen", Environment("agent-a", "lab-a", Xeon, 16, 64L << 30, "6.1.0-18-amd64"), Xen);
        var plain = ResultsTable.Build([native, local]).Single(r => r.Experiment.Platform == "xen");
        Assert.DoesNotContain(plain.Conclusions, c => c.Code is "cross-machine" or "other-machine");
        Assert.DoesNotContain("not interleaved", ResultsTable.Ratio(plain), StringComparison.Ordinal);
    }
}
