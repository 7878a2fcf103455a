using System.Collections.Immutable;
using Horizon.Desk;
using Horizon.Grains;

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

    public SubmissionView View() => new(
        Name, State.ToString(), Detail, TestbedName, Experiments, PlannedRounds, Measured, Failed, SubmittedAt, FinishedAt, LogTotal, [.. Log], [.. LeftOut]);
}

/// <summary>What a scheduler is handed when it claims a campaign.</summary>
[GenerateSerializer, Immutable, Alias("horizon.submission-ticket")]
public sealed record SubmissionTicket(
    [property: Id(0)] string Name, [property: Id(1)] string? Testbed, [property: Id(2)] string? Campaign, [property: Id(3)] string? Preset,
    [property: Id(4)] bool Resumed);

/// <summary>A scheduler's report on the campaign it runs: rounds recorded and log lines since its last report, and its state.</summary>
[GenerateSerializer, Immutable, Alias("horizon.submission-report")]
public sealed record SubmissionReport(
    [property: Id(0)] int NewMeasured, [property: Id(1)] int NewFailed, [property: Id(2)] ImmutableArray<string> NewLines,
    [property: Id(3)] SubmissionState State, [property: Id(4)] string? Detail);

/// <summary>
/// The cluster's campaign desk (one activation, key "default", state in the cluster's grain storage): controller silos'
/// APIs submit and read here, scheduler services claim and report here. A campaign whose scheduler stops reporting
/// for <see cref="SubmissionsGrain.SilentAfter"/> is handed to the next scheduler that asks — it resumes from the
/// rounds already recorded.
/// </summary>
[Alias("horizon.submissions")]
public interface ISubmissionsGrain : IGrainWithStringKey
{
    [Alias("submit")]
    Task<SubmissionEntry?> Submit(SubmissionEntry entry);

    [Alias("find")]
    Task<SubmissionEntry?> Find(string name);

    [Alias("all")]
    Task<ImmutableArray<SubmissionEntry>> All();

    [Alias("cancel")]
    Task<bool> Cancel(string name);

    [Alias("claim")]
    Task<SubmissionTicket?> Claim(string worker);

    /// <summary>Returns true when the campaign should stop (cancelled, or handed to another scheduler).</summary>
    [Alias("report")]
    Task<bool> Report(string name, string worker, SubmissionReport report);
}

[GenerateSerializer, Alias("horizon.submissions-state")]
public sealed class SubmissionsState
{
    [Id(0)] public Dictionary<string, SubmissionEntry> Entries { get; set; } = new(StringComparer.Ordinal);
}

public sealed class SubmissionsGrain(
    [PersistentState("submissions", HorizonGrainStorage.Name)] IPersistentState<SubmissionsState> state,
    TimeProvider time) : Grain, ISubmissionsGrain
{
    public static readonly TimeSpan SilentAfter = TimeSpan.FromSeconds(45);
    private const int KeptFinished = 100;
    private const int KeptLines = 200;

    private Dictionary<string, SubmissionEntry> Entries => state.State.Entries;

    public async Task<SubmissionEntry?> Submit(SubmissionEntry entry)
    {
        if (Entries.TryGetValue(entry.Name, out var existing) && existing.State is SubmissionState.Queued or SubmissionState.Running)
        {
            return null;
        }

        entry.State = SubmissionState.Queued;
        entry.SubmittedAt = time.GetUtcNow();
        Say(entry, $"queued: {entry.Experiments} experiment(s) on testbed {entry.TestbedName}");
        Entries[entry.Name] = entry;
        foreach (var old in Entries.Values.Where(e => e.FinishedAt is not null).OrderByDescending(e => e.FinishedAt).Skip(KeptFinished).ToList())
        {
            Entries.Remove(old.Name);
        }

        await state.WriteStateAsync();
        return entry;
    }

    public Task<SubmissionEntry?> Find(string name) => Task.FromResult(Entries.GetValueOrDefault(name));

    public Task<ImmutableArray<SubmissionEntry>> All() => Task.FromResult(Entries.Values.OrderBy(e => e.SubmittedAt).ToImmutableArray());

    public async Task<bool> Cancel(string name)
    {
        if (Entries.GetValueOrDefault(name) is not { State: SubmissionState.Queued or SubmissionState.Running } e)
        {
            return false;
        }

        if (e.State == SubmissionState.Queued)
        {
            Finish(e, SubmissionState.Cancelled, "cancelled before it started");
        }
        else
        {
            e.CancelRequested = true;
            Say(e, "cancel requested");
        }

        await state.WriteStateAsync();
        return true;
    }

    public async Task<SubmissionTicket?> Claim(string worker)
    {
        var now = time.GetUtcNow();
        // A scheduler that restarted gets its own campaign back first; then a campaign whose scheduler went silent; then the queue.
        var entry = Entries.Values.Where(e => e.State == SubmissionState.Running && e.Worker == worker).OrderBy(e => e.SubmittedAt).FirstOrDefault()
            ?? Entries.Values.Where(e => e.State == SubmissionState.Running && now - e.HeardAt > SilentAfter).OrderBy(e => e.SubmittedAt).FirstOrDefault()
            ?? Entries.Values.Where(e => e.State == SubmissionState.Queued).OrderBy(e => e.SubmittedAt).FirstOrDefault();
        if (entry is null)
        {
            return null;
        }

        var resumed = entry.State == SubmissionState.Running;
        if (resumed)
        {
            Say(entry, entry.Worker == worker
                ? $"scheduler {worker} restarted: resuming from the rounds already recorded"
                : $"scheduler {entry.Worker} silent since {entry.HeardAt:HH:mm:ss}: {worker} resumes from the rounds already recorded");
        }

        entry.State = SubmissionState.Running;
        entry.Worker = worker;
        entry.HeardAt = now;
        await state.WriteStateAsync();
        return new SubmissionTicket(entry.Name, entry.Testbed, entry.Campaign, entry.Preset, resumed);
    }

    public async Task<bool> Report(string name, string worker, SubmissionReport report)
    {
        if (Entries.GetValueOrDefault(name) is not { } e || e.Worker != worker || e.State != SubmissionState.Running)
        {
            return true;
        }

        e.HeardAt = time.GetUtcNow();
        e.Measured += report.NewMeasured;
        e.Failed += report.NewFailed;
        foreach (var line in report.NewLines)
        {
            Append(e, line);
        }

        if (report.State != SubmissionState.Running)
        {
            e.State = report.State;
            e.Detail = report.Detail;
            e.FinishedAt = time.GetUtcNow();
        }

        await state.WriteStateAsync();
        return e.CancelRequested;
    }

    private void Finish(SubmissionEntry e, SubmissionState s, string? detail)
    {
        e.State = s;
        e.Detail = detail;
        e.FinishedAt = time.GetUtcNow();
        Say(e, s.ToString().ToLowerInvariant() + (detail is null ? "" : $": {detail}"));
    }

    private void Say(SubmissionEntry e, string line) => Append(e, $"{time.GetUtcNow():HH:mm:ss} {line}");

    private static void Append(SubmissionEntry e, string line)
    {
        e.LogTotal++;
        e.Log.Add(line);
        if (e.Log.Count > KeptLines)
        {
            e.Log.RemoveRange(0, e.Log.Count - KeptLines);
        }
    }
}
