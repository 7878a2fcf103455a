using System.Collections.Immutable;
using Horizon.Grains;
using Horizon.Results;
using Horizon.Scripts;
using Horizon.Timing;
using Horizon.Workloads;

namespace Horizon.Scheduler.Running;

/// <summary>
/// Turns what the timing service concluded about a round (from its probes) and what the guest said about it into the
/// round's record. The duration is only ever the probes'; the guest's line decides whether the workload succeeded and
/// carries the guest's own clock reading (recorded beside, never used); a workload's output becomes its metrics.
/// Pure: no SSH, no grains.
/// </summary>
public static class RoundAssembler
{
    public static RoundRecord Assemble(
        ExperimentDefinition definition, string guestName, RoundTiming timing, RoundLine? line, string? tail, string? output,
        WorkloadDefinition? workload, WorkloadSpec spec, bool reportsOutput, long recordedUnixMs)
    {
        var g = (int)timing.Guest;
        var r = (int)timing.Round;
        var measured = timing.Status == RoundOutcome.Measured;
        var outcome = measured && (line is null || line.ExitCode == 0) ? RoundOutcome.Measured : RoundOutcome.Failed;
        var reason = timing.Reason;
        if (line is { ExitCode: not 0 })
        {
            reason = $"workload exited with status {line.ExitCode}{(tail is { Length: > 0 } ? $": {tail}" : "")}";
        }
        else if (line is null && measured)
        {
            reason = "measured; the guest's own report did not arrive";
        }

        ImmutableDictionary<string, double>? metrics = null;
        if (reportsOutput && workload is not null && outcome == RoundOutcome.Measured)
        {
            try
            {
                metrics = output is { Length: > 0 }
                    ? workload.ParseOutput(spec, output).ToImmutableDictionary()
                    : throw new FormatException("the guest sent no output for this round");
            }
            catch (Exception e) when (e is FormatException or System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException)
            {
                outcome = RoundOutcome.Failed;
                reason = $"round output unusable: {e.Message}";
            }
        }
        else if (reportsOutput && line is { ExitCode: not 0 } && output is not null)
        {
            reason += $" ({CommandResult.Tail(output, 2)})";
        }

        // What the round cost, from the kernels' CPU accounting taken just outside the probes: the guest's own view
        // (steal: time its vCPUs waited for the hypervisor) and, where the host is this machine, the host's.
        if (line?.Cpu is { } guestCpu && CpuTimes.Delta(guestCpu.Before, guestCpu.After, "guest_cpu") is { } g1)
        {
            metrics = (metrics ?? ImmutableDictionary<string, double>.Empty).SetItems(g1);
        }

        if (timing.HostCpu is { } hostCpu && CpuTimes.Delta(hostCpu.Before, hostCpu.After, "host_cpu") is { } h1)
        {
            metrics = (metrics ?? ImmutableDictionary<string, double>.Empty).SetItems(h1);
        }

        if (timing.StartArrivalNs is { } startNs)
        {
            // The start probe's arrival on the controller's monotonic clock: the spread across guests of a block's first
            // round is the start skew of concurrent guests (reports compute it per block).
            metrics = (metrics ?? ImmutableDictionary<string, double>.Empty).SetItem(Results.RoundResult.StartMetric, startNs / 1e9);
        }

        return new RoundRecord(definition.Id, g, guestName, r, outcome, timing.Seconds, line?.GuestSeconds, line?.GuestStart, line?.ExitCode, reason,
            recordedUnixMs, metrics, r < definition.Warmup);
    }
}
