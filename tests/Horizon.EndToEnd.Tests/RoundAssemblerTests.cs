using System.Collections.Immutable;
using Horizon.Grains;
using Horizon.Results;
using Horizon.Scheduler.Running;
using Horizon.Scripts;
using Horizon.Timing;
using Horizon.Workloads;

namespace Horizon.EndToEnd.Tests;

/// <summary>Guest lines and a probe timing into a round record, without SSH or grains.</summary>
public sealed class RoundAssemblerTests
{
    private static readonly ExperimentDefinition Definition = new(
        Guid.NewGuid(), "c", "k", "command", ImmutableSortedDictionary<string, string>.Empty, ["g0", "g1"], ["native", "native"], "default", 3, 3, null, 60, 0);

    private static readonly WorkloadSpec Metrics = WorkloadCatalog.Create("command", new Dictionary<string, string> { ["run"] = "x", ["metrics"] = "rps=([0-9.]+) req/s" });

    private static RoundTiming Measured(uint guest, uint round, double seconds) =>
        new(Definition.Id, guest, round, RoundOutcome.Measured, 5_000_000_000, 5_000_000_000 + (long)(seconds * 1e9), null);

    private static RoundRecord Assemble(RoundTiming timing, RoundLine? line, string? tail = null, string? output = null, bool reports = false) =>
        RoundAssembler.Assemble(Definition, $"g{timing.Guest}", timing, line, tail, output, WorkloadCatalog.Find("command"), Metrics, reports, 1234);

    [Fact]
    public void A_measured_round_takes_its_duration_from_the_probes_and_keeps_the_guest_clock_beside_it()
    {
        var r = Assemble(Measured(1, 2, 0.25), new RoundLine(2, 0, 100.0, 100.9));
        Assert.Equal(RoundOutcome.Measured, r.Outcome);
        Assert.Equal(0.25, r.Seconds!.Value, 9);
        Assert.Equal(0.9, r.GuestSeconds!.Value, 9);
        Assert.Equal((1, "g1", 2, 1234L), (r.GuestIndex, r.Guest, r.Round, r.RecordedUnixMs));
        Assert.Equal(5.0, r.Metrics![Results.RoundResult.StartMetric]);
        Assert.Null(r.Reason);
    }

    [Fact]
    public void A_workload_that_failed_fails_the_round_with_its_exit_code_and_error_tail_though_the_probes_timed_it()
    {
        var r = Assemble(Measured(0, 0, 0.1), new RoundLine(0, 3, 1, 2), tail: "disk full");
        Assert.Equal(RoundOutcome.Failed, r.Outcome);
        Assert.Equal("workload exited with status 3: disk full", r.Reason);
        Assert.Equal(0.1, r.Seconds!.Value, 9);
    }

    [Fact]
    public void A_round_timed_without_the_guests_report_is_measured_and_says_so()
    {
        var r = Assemble(Measured(0, 1, 0.2), null);
        Assert.Equal(RoundOutcome.Measured, r.Outcome);
        Assert.Equal("measured; the guest's own report did not arrive", r.Reason);
    }

    [Fact]
    public void A_round_whose_probes_never_arrived_is_failed_with_the_timing_reason()
    {
        var lost = new RoundTiming(Definition.Id, 0, 4, RoundOutcome.Failed, 1, null, "no end probe within the round timeout");
        var r = Assemble(lost, new RoundLine(4, 0, 1, 2));
        Assert.Equal(RoundOutcome.Failed, r.Outcome);
        Assert.Equal("no end probe within the round timeout", r.Reason);
        Assert.Null(r.Seconds);
    }

    [Fact]
    public void Output_metrics_are_parsed_and_an_unusable_output_fails_the_round_with_the_reason()
    {
        var good = Assemble(Measured(0, 0, 1), new RoundLine(0, 0, 1, 2), output: "Requests: 12.5 req/s\n", reports: true);
        Assert.Equal(12.5, good.Metrics!["rps"]);
        var none = Assemble(Measured(0, 1, 1), new RoundLine(1, 0, 1, 2), output: null, reports: true);
        Assert.Equal(RoundOutcome.Failed, none.Outcome);
        Assert.Contains("no output", none.Reason, StringComparison.Ordinal);
        var garbage = Assemble(Measured(0, 2, 1), new RoundLine(2, 0, 1, 2), output: "nothing here", reports: true);
        Assert.Equal(RoundOutcome.Failed, garbage.Outcome);
        Assert.Contains("metric 'rps'", garbage.Reason, StringComparison.Ordinal);
    }
}
