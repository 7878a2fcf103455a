using System.Collections.Immutable;
using Horizon.Desk;

namespace Horizon.Cluster;

/// <summary>One submitted campaign as the cluster keeps it: the texts to run, and what the scheduler said so far.</summary>
[GenerateSerializer, Alias("horizon.submission-entry")]
public sealed class SubmissionEntry
{
    [Id(0)] public string Name { get; set; } = "";

    [Id(1)] public string? Testbed { get; set; }

    [Id(2)] public string? Campaign { get; set; }

    [Id(3)] public string? Preset { get; set; }

    [Id(4)] public SubmissionState State { get; set; }

    [Id(5)] public string? Detail { get; set; }

    [Id(6)] public string TestbedName { get; set; } = "";

    [Id(7)] public int Experiments { get; set; }

    [Id(8)] public int PlannedRounds { get; set; }

    [Id(9)] public int Measured { get; set; }

    [Id(10)] public int Failed { get; set; }

    [Id(11)] public DateTimeOffset SubmittedAt { get; set; }

    [Id(12)] public DateTimeOffset? FinishedAt { get; set; }

    [Id(13)] public int LogTotal { get; set; }

    [Id(14)] public List<string> Log { get; set; } = [];

    [Id(15)] public List<string> LeftOut { get; set; } = [];

    /// <summary>The scheduler running it, and when it last reported (a silent one for long is presumed dead).</summary>
    [Id(16)] public string? Worker { get; set; }

    [Id(17)] public DateTimeOffset? HeardAt { get; set; }

    [Id(18)] public bool CancelRequested { get; set; }

    /// <summary>Each experiment, the test hosts it needs and the agent running it (empty in entries written before agents: one part, any agent).</summary>
    [Id(19)] public List<PlacedExperiment> Placement { get; set; } = [];

    /// <summary>The last "waiting: …" line said, so it is said once per change.</summary>
    [Id(20)] public string? Waiting { get; set; }

    public SubmissionView View() => new(
        Name, State.ToString(), Detail ?? (State is SubmissionState.Queued or SubmissionState.Running ? Waiting : null), TestbedName, Experiments, PlannedRounds, Measured, Failed, SubmittedAt, FinishedAt, LogTotal, [.. Log], [.. LeftOut],
        [.. Placement.GroupBy(p => (p.Agent, p.State, p.Detail)).Select(g => new SubmissionPartView(
            g.Key.Agent, g.Key.State.ToString(), g.Count(), [.. g.SelectMany(p => p.Hosts).Distinct()], g.Key.Detail))]);
}

/// <summary>One experiment of a submitted campaign: the test hosts its guests sit on, and which agent runs it.</summary>
[GenerateSerializer, Alias("horizon.placed-experiment")]
public sealed class PlacedExperiment
{
    /// <summary>The experiment's key ("*": the whole campaign, for entries written before agents).</summary>
    [Id(0)] public string Key { get; set; } = "";

    /// <summary><see cref="Horizon.Config.HostEndpoint"/> of each host its guests sit on (empty: any agent).</summary>
    [Id(1)] public List<string> Endpoints { get; set; } = [];

    /// <summary>The same hosts as people read them: "testbed/host (endpoint)".</summary>
    [Id(2)] public List<string> Hosts { get; set; } = [];

    [Id(3)] public string? Agent { get; set; }

    [Id(4)] public SubmissionState State { get; set; }

    [Id(5)] public string? Detail { get; set; }
}

[GenerateSerializer, Alias("horizon.agent-record")]
public sealed class AgentRecord
{
    [Id(0)] public AgentHello Hello { get; set; } = null!;

    [Id(1)] public DateTimeOffset HeardAt { get; set; }

    /// <summary>When this run of the agent (its <see cref="AgentHello.StartedAt"/>) was first handed an experiment.</summary>
    [Id(2)] public DateTimeOffset? FirstClaimAt { get; set; }
}

/// <summary>What an agent is handed when it claims work: a campaign, and which of its experiments are this agent's to run.</summary>
[GenerateSerializer, Immutable, Alias("horizon.submission-ticket")]
public sealed record SubmissionTicket(
    [property: Id(0)] string Name, [property: Id(1)] string? Testbed, [property: Id(2)] string? Campaign, [property: Id(3)] string? Preset,
    [property: Id(4)] bool Resumed, [property: Id(5)] ImmutableArray<string> Experiments = default)
{
    /// <summary>The experiment keys to run; empty: all of them.</summary>
    public ImmutableArray<string> Keys => Experiments.IsDefault ? [] : Experiments;
}

/// <summary>An agent's report on its part of a campaign: rounds recorded and log lines since its last report, and its state.</summary>
[GenerateSerializer, Immutable, Alias("horizon.submission-report")]
public sealed record SubmissionReport(
    [property: Id(0)] int NewMeasured, [property: Id(1)] int NewFailed, [property: Id(2)] ImmutableArray<string> NewLines,
    [property: Id(3)] SubmissionState State, [property: Id(4)] string? Detail);
