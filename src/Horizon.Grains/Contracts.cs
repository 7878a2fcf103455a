using System.Collections.Immutable;
using Horizon.Results;

namespace Horizon.Grains;

public enum ExperimentStatus
{
    Pending,
    Running,
    Completed,
    Failed,
}

public enum GuestStatus
{
    Idle,
    Preparing,
    Ready,
    Running,
    Failed,
}

/// <summary>One round of one guest as recorded: the external duration, and beside it the guest's own (untrusted) reading.</summary>
[GenerateSerializer, Immutable, Alias("horizon.round-record")]
public sealed record RoundRecord(
    [property: Id(0)] Guid Experiment,
    [property: Id(1)] int GuestIndex,
    [property: Id(2)] string Guest,
    [property: Id(3)] int Round,
    [property: Id(4)] RoundOutcome Outcome,
    [property: Id(5)] double? Seconds,
    [property: Id(6)] double? GuestSeconds,
    [property: Id(7)] double? GuestStartEpoch,
    [property: Id(8)] int? ExitCode,
    [property: Id(9)] string? Reason,
    [property: Id(10)] long RecordedUnixMs,
    [property: Id(11)] ImmutableDictionary<string, double>? Metrics = null,
    [property: Id(12)] bool Warmup = false);

[GenerateSerializer, Immutable, Alias("horizon.experiment-definition")]
public sealed record ExperimentDefinition(
    [property: Id(0)] Guid Id,
    [property: Id(1)] string Campaign,
    [property: Id(2)] string Key,
    [property: Id(3)] string Workload,
    [property: Id(4)] ImmutableSortedDictionary<string, string> Parameters,
    [property: Id(5)] ImmutableArray<string> Guests,
    [property: Id(6)] ImmutableArray<string> Platforms,
    [property: Id(7)] string Scheme,
    [property: Id(8)] int MinRounds,
    [property: Id(9)] int MaxRounds,
    [property: Id(10)] double? TargetRelativeHalfWidth,
    [property: Id(11)] double RoundTimeoutSeconds,
    [property: Id(12)] int Order,
    [property: Id(13)] string Metric = "duration",
    [property: Id(14)] int Warmup = 0);

[GenerateSerializer, Immutable, Alias("horizon.experiment-snapshot")]
public sealed record ExperimentSnapshot(
    [property: Id(0)] Guid Id,
    [property: Id(1)] ExperimentStatus Status,
    [property: Id(2)] int Measured,
    [property: Id(3)] int Failed,
    [property: Id(4)] double? Mean,
    [property: Id(5)] double? HalfWidth,
    [property: Id(6)] int NextRound,
    [property: Id(7)] string? StopReason,
    [property: Id(8)] int Warmup = 0);

[GenerateSerializer, Immutable, Alias("horizon.round-decision")]
public sealed record RoundDecision(
    [property: Id(0)] bool Stop,
    [property: Id(1)] string? Reason,
    [property: Id(2)] bool Duplicate,
    [property: Id(3)] ExperimentSnapshot Snapshot);

[GenerateSerializer, Immutable, Alias("horizon.host-description")]
public sealed record HostDescription(
    [property: Id(0)] string Name,
    [property: Id(1)] string Platform,
    [property: Id(2)] string CpuModel,
    [property: Id(3)] int Cpus,
    [property: Id(4)] int Sockets,
    [property: Id(5)] string Kernel,
    [property: Id(6)] long MemoryBytes,
    [property: Id(7)] string Os);

[GenerateSerializer, Immutable, Alias("horizon.guest-info")]
public sealed record GuestInfo(
    [property: Id(0)] string Name,
    [property: Id(1)] GuestStatus Status,
    [property: Id(2)] string? Detail,
    [property: Id(3)] long ChangedUnixMs);

[GenerateSerializer, Immutable, Alias("horizon.run-order-entry")]
public sealed record RunOrderEntry(
    [property: Id(0)] int Sequence,
    [property: Id(1)] Guid Experiment,
    [property: Id(2)] int FirstRound,
    [property: Id(3)] int Rounds);

[Alias("horizon.experiment")]
public interface IExperimentGrain : IGrainWithGuidKey
{
    /// <summary>Defines the experiment, or resumes it when it exists: rounds reserved but never recorded are recorded as interrupted.</summary>
    [Alias("define")]
    Task<ExperimentSnapshot> Define(ExperimentDefinition definition);

    [Alias("reserve")]
    Task<int> ReserveRounds(int count);

    /// <summary>Gives back reserved rounds from <paramref name="fromRound"/> on that were never started (adaptive stop).</summary>
    [Alias("release")]
    Task ReleaseRounds(int fromRound);

    [Alias("record")]
    Task<RoundDecision> Record(RoundRecord round);

    /// <summary>Records several rounds with one store commit and one state write (duplicates are ignored).</summary>
    [Alias("record-many")]
    Task<RoundDecision> RecordMany(ImmutableArray<RoundRecord> rounds);

    [Alias("environment")]
    Task SetEnvironment(string json);

    [Alias("complete")]
    Task Complete(ExperimentStatus status, string? note);

    [Alias("snapshot")]
    Task<ExperimentSnapshot> Snapshot();
}

[Alias("horizon.campaign")]
public interface ICampaignGrain : IGrainWithStringKey
{
    /// <summary>Maps experiment keys to ids: keys seen before keep their id, so a re-run resumes.</summary>
    [Alias("plan")]
    Task<ImmutableDictionary<string, Guid>> Plan(string testbed, ImmutableArray<string> experimentKeys);

    [Alias("run-order")]
    Task<int> AppendRunOrder(Guid experiment, int firstRound, int rounds);

    [Alias("get-run-order")]
    Task<ImmutableArray<RunOrderEntry>> RunOrder();
}

[Alias("horizon.host")]
public interface IHostGrain : IGrainWithStringKey
{
    [Alias("describe")]
    Task Describe(HostDescription description);

    [Alias("get")]
    Task<HostDescription?> Description();
}

[Alias("horizon.guest")]
public interface IGuestGrain : IGrainWithStringKey
{
    [Alias("set-status")]
    Task SetStatus(GuestStatus status, string? detail);

    [Alias("get")]
    Task<GuestInfo> Info();
}
