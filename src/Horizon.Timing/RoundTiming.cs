using System.Collections.Immutable;
using Horizon.Probes;
using Horizon.Results;

namespace Horizon.Timing;

/// <summary>What the timing service concluded about one round of one guest.</summary>
public sealed record RoundTiming(
    Guid Experiment,
    uint Guest,
    uint Round,
    RoundOutcome Status,
    long? StartArrivalNs,
    long? EndArrivalNs,
    string? Reason)
{
    /// <summary>This machine's CPU accounting read as the start and the end probe were taken in (when the guests' host is this machine).</summary>
    public (CpuTimes Before, CpuTimes After)? HostCpu { get; init; }

    public double? Seconds => StartArrivalNs is { } s && EndArrivalNs is { } e ? (e - s) / 1e9 : null;
}

/// <summary>Counts kept by the timing service; never per packet in logs.</summary>
public sealed record ProbeCounters(long Datagrams, long Accepted, long Duplicates, ImmutableDictionary<ProbeRejection, long> Rejected)
{
    public long RejectedTotal => Rejected.Values.Sum();
}
