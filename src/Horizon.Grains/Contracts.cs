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

    /// <summary>Its agent could not reach it (SSH or the platform's tools): it serves no experiment until it answers again.</summary>
    Unreachable,
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
    [property: Id(3)] long ChangedUnixMs,
    [property: Id(4)] string? Host = null,
    [property: Id(5)] string? Agent = null,
    [property: Id(6)] string? Campaign = null,
    [property: Id(7)] string? Experiment = null,
    [property: Id(8)] long LastSeenUnixMs = 0);

/// <summary>Who a guest works for right now: its host, the agent that reaches it, the campaign and experiment it serves.</summary>
[GenerateSerializer, Immutable, Alias("horizon.guest-duty")]
public sealed record GuestDuty(
    [property: Id(0)] string Host,
    [property: Id(1)] string Agent,
    [property: Id(2)] string? Campaign,
    [property: Id(3)] string? Experiment);

/// <summary>A test host as its grain knows it now: hardware, agent, platform, reachability, the CPU placement last read back.</summary>
[GenerateSerializer, Immutable, Alias("horizon.host-info")]
public sealed record HostInfo(
    [property: Id(0)] string Name,
    [property: Id(1)] string? Platform,
    [property: Id(2)] string? Agent,
    [property: Id(3)] string? Endpoint,
    [property: Id(4)] HostDescription? Topology,
    [property: Id(5)] bool? Reachable,
    [property: Id(6)] string? ReachDetail,
    [property: Id(7)] long CheckedUnixMs,
    [property: Id(8)] string? Scheme,
    [property: Id(9)] ImmutableSortedDictionary<string, string> Placement,
    [property: Id(10)] long PlacedUnixMs);

/// <summary>One testbed's shape as its agents and campaigns registered it: hosts (with their endpoints) and guests.</summary>
[GenerateSerializer, Immutable, Alias("horizon.testbed-layout")]
public sealed record TestbedLayout(
    [property: Id(0)] string Name,
    [property: Id(1)] ImmutableArray<TestbedHostEntry> Hosts,
    [property: Id(2)] ImmutableArray<TestbedGuestEntry> Guests,
    [property: Id(3)] string? Agent);

[GenerateSerializer, Immutable, Alias("horizon.testbed-host")]
public sealed record TestbedHostEntry([property: Id(0)] string Name, [property: Id(1)] string Platform, [property: Id(2)] string Endpoint);

[GenerateSerializer, Immutable, Alias("horizon.testbed-guest")]
public sealed record TestbedGuestEntry([property: Id(0)] string Name, [property: Id(1)] string Host, [property: Id(2)] string Platform);

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

    /// <summary>The agent serving this host, its platform and endpoint (said when the agent starts and with every campaign).</summary>
    [Alias("served-by")]
    Task ServedBy(string agent, string platform, string endpoint);

    /// <summary>The agent's last reachability check: null detail when it answered.</summary>
    [Alias("reachability")]
    Task SetReachability(bool reachable, string? detail);

    /// <summary>The CPU placement read back for the experiment that runs now (guest → CPUs).</summary>
    [Alias("placement")]
    Task SetPlacement(string scheme, ImmutableSortedDictionary<string, string> placement);

    [Alias("info")]
    Task<HostInfo> Info();
}

[Alias("horizon.testbed")]
public interface ITestbedGrain : IGrainWithStringKey
{
    /// <summary>Registers the testbed's hosts and guests (keys of their grains: "testbed/name"); unchanged layouts are not rewritten.</summary>
    [Alias("register")]
    Task Register(TestbedLayout layout);

    [Alias("layout")]
    Task<TestbedLayout?> Layout();
}

[Alias("horizon.guest")]
public interface IGuestGrain : IGrainWithStringKey
{
    [Alias("set-status")]
    Task SetStatus(GuestStatus status, string? detail);

    /// <summary>Who the guest works for (kept until it changes); every call also counts as the guest being seen.</summary>
    [Alias("duty")]
    Task SetDuty(GuestDuty duty);

    [Alias("get")]
    Task<GuestInfo> Info();
}
