using System.Collections.Concurrent;
using Horizon.Config;

namespace Horizon.Desk;

public enum SubmissionState
{
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

/// <summary>What the API knows about one submitted campaign while this controller runs.</summary>
public sealed class Submission(string name, Testbed testbed, Campaign campaign)
{
    private readonly ConcurrentQueue<string> log = new();
    private int measured;
    private int failed;

    public string Name { get; } = name;

    public Testbed Testbed { get; } = testbed;

    public Campaign Campaign { get; } = campaign;

    public SubmissionState State { get; set; } = SubmissionState.Queued;

    public string? Detail { get; set; }

    public DateTimeOffset SubmittedAt { get; } = DateTimeOffset.UtcNow;

    public DateTimeOffset? FinishedAt { get; set; }

    /// <summary>Cancelled when the campaign is cancelled (before it starts, or while it runs).</summary>
    public CancellationTokenSource Cancel { get; } = new();

    public int Measured => Volatile.Read(ref measured);

    public int FailedRounds => Volatile.Read(ref failed);

    public int PlannedRounds => Campaign.Experiments.Sum(e => e.Rounds.Max * e.Guests.Length);

    /// <summary>The last progress lines (bounded).</summary>
    public IReadOnlyList<string> Log => [.. log];

    /// <summary>Counts a recorded round, measured or failed.</summary>
    public void Round(bool ok)
    {
        if (ok)
        {
            Interlocked.Increment(ref measured);
        }
        else
        {
            Interlocked.Increment(ref failed);
        }
    }

    /// <summary>Lines ever logged (the log keeps only the last 200): lets a follower print exactly what is new.</summary>
    public int LogTotal => Volatile.Read(ref logTotal);

    private int logTotal;

    public SubmissionView View() => new(
        Name, State.ToString(), Detail, Testbed.Name, Campaign.Experiments.Length, PlannedRounds, Measured, FailedRounds,
        SubmittedAt, FinishedAt, LogTotal, Log, Campaign.Skipped);

    /// <summary>Adds a line to the progress log (the last 200 are kept).</summary>
    public void Say(string line)
    {
        Interlocked.Increment(ref logTotal);
        log.Enqueue($"{DateTime.UtcNow:HH:mm:ss} {line}");
        while (log.Count > 200 && log.TryDequeue(out _))
        {
        }
    }
}
