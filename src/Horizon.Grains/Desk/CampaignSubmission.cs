namespace Horizon.Desk;

/// <summary>A campaign as submitted (over HTTP, or by a CLI): YAML texts, or a preset, and an optional name.</summary>
public sealed record CampaignSubmission(string? Testbed, string? Campaign, string? Preset, string? Name);

/// <summary>What a desk shows about one submitted campaign: its state, counts and the tail of its progress log.</summary>
public sealed record SubmissionView(
    string Name, string State, string? Detail, string Testbed, int Experiments, int PlannedRounds, int Measured, int Failed,
    DateTimeOffset SubmittedAt, DateTimeOffset? FinishedAt, int LogTotal, IReadOnlyList<string> Log, IReadOnlyList<string> LeftOut,
    IReadOnlyList<SubmissionPartView>? Parts = null);

/// <summary>The share of a campaign one agent runs (distributed mode): its experiments, on the hosts it serves.</summary>
public sealed record SubmissionPartView(string? Agent, string State, int Experiments, IReadOnlyList<string> Hosts, string? Detail);
