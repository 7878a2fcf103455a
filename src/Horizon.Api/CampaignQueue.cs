using System.Collections.Concurrent;
using System.Net;
using System.Threading.Channels;
using Horizon.Config;
using Horizon.Grains;
using Horizon.Scheduler;
using Horizon.Timing;

namespace Horizon.Api;

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

    public SubmissionState State { get; internal set; } = SubmissionState.Queued;

    public string? Detail { get; internal set; }

    public DateTimeOffset SubmittedAt { get; } = DateTimeOffset.UtcNow;

    public DateTimeOffset? FinishedAt { get; internal set; }

    internal CancellationTokenSource Cancel { get; } = new();

    public int Measured => Volatile.Read(ref measured);

    public int FailedRounds => Volatile.Read(ref failed);

    public int PlannedRounds => Campaign.Experiments.Sum(e => e.Rounds.Max * e.Guests.Length);

    /// <summary>The last progress lines (bounded).</summary>
    public IReadOnlyList<string> Log => [.. log];

    internal void Round(bool ok)
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

    internal void Say(string line)
    {
        Interlocked.Increment(ref logTotal);
        log.Enqueue($"{DateTime.UtcNow:HH:mm:ss} {line}");
        while (log.Count > 200 && log.TryDequeue(out _))
        {
        }
    }
}

/// <summary>
/// Runs submitted campaigns one after another on the controller (they share its guests and its probe port). Each run
/// gets a timing service bound where its testbed says guests send probes.
/// </summary>
public sealed class CampaignQueue : ICampaignDesk, IAsyncDisposable
{
    private readonly EmbeddedController controller;
    private readonly Channel<Submission> pending = Channel.CreateUnbounded<Submission>();
    private readonly ConcurrentDictionary<string, Submission> submissions = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource stopping = new();
    private readonly Task worker;

    public CampaignQueue(EmbeddedController controller)
    {
        this.controller = controller;
        worker = Task.Run(WorkAsync);
    }

    public ResultsStore Store => controller.Store;

    public IResultsReader Results => controller.Store;

    public Task<SubmissionView?> SubmitAsync(CampaignSubmission texts, Submission parsed) =>
        Task.FromResult(TrySubmit(parsed) ? parsed.View() : null);

    public Task<SubmissionView?> FindAsync(string name) => Task.FromResult(Find(name)?.View());

    public Task<IReadOnlyList<SubmissionView>> AllAsync() => Task.FromResult<IReadOnlyList<SubmissionView>>([.. All.Select(s => s.View())]);

    public Task<bool> CancelAsync(string name) => Task.FromResult(TryCancel(name));

    public IEnumerable<Submission> All => submissions.Values.OrderBy(s => s.SubmittedAt);

    public Submission? Find(string name) => submissions.GetValueOrDefault(name);

    /// <summary>Queues a campaign; false when one of that name is queued or running.</summary>
    public bool TrySubmit(Submission submission)
    {
        var added = submissions.AddOrUpdate(submission.Name, submission, (_, existing) =>
            existing.State is SubmissionState.Queued or SubmissionState.Running ? existing : submission);
        if (!ReferenceEquals(added, submission))
        {
            return false;
        }

        submission.Say($"queued: {submission.Campaign.Experiments.Length} experiment(s) on testbed {submission.Testbed.Name}");
        pending.Writer.TryWrite(submission);
        return true;
    }

    public bool TryCancel(string name)
    {
        if (Find(name) is not { State: SubmissionState.Queued or SubmissionState.Running } s)
        {
            return false;
        }

        s.Cancel.Cancel();
        return true;
    }

    private async Task WorkAsync()
    {
        await foreach (var s in pending.Reader.ReadAllAsync(stopping.Token).ConfigureAwait(false))
        {
            if (s.Cancel.IsCancellationRequested)
            {
                Finish(s, SubmissionState.Cancelled, "cancelled before it started");
                continue;
            }

            using var ct = CancellationTokenSource.CreateLinkedTokenSource(s.Cancel.Token, stopping.Token);
            await ExecuteAsync(controller.Grains, s, null, ct.Token).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Runs one submission to its end and says how it ended (on the submission: state, detail, log). Shared by the
    /// embedded controller's queue and the distributed scheduler service. <paramref name="probePort"/> is where probes
    /// arrive when the testbed names no port (null: any free one).
    /// </summary>
    public static async Task ExecuteAsync(IGrainFactory grains, Submission s, int? probePort, CancellationToken ct)
    {
        s.State = SubmissionState.Running;
        try
        {
            var port = s.Testbed.ProbePort != 0 ? s.Testbed.ProbePort : probePort ?? 0;
            var bind = new IPEndPoint(IPAddress.Parse(s.Testbed.ProbeAddress), port);
            using var timing = new TimingService(bind, networkNamespace: s.Testbed.ProbeNetworkNamespace);
            s.Say($"running; probes on udp {timing.LocalEndPoint} ({timing.TimestampDescription})");
            var outcome = await new CampaignRunner(grains, timing, s.Testbed, new Progress(s)).RunAsync(s.Campaign, ct).ConfigureAwait(false);
            var failed = outcome.Experiments.Count(e => e.Status != ExperimentStatus.Completed);
            Finish(s, failed == 0 ? SubmissionState.Completed : SubmissionState.Failed,
                failed == 0 ? null : $"{failed} of {outcome.Experiments.Length} experiment(s) did not complete");
        }
        catch (OperationCanceledException)
        {
            Finish(s, SubmissionState.Cancelled, "cancelled: every round recorded so far is kept; submit the same campaign again to resume");
        }
        catch (Exception e)
        {
            // A dead host, a refused SSH key, a probe port in use: said plainly, recorded rounds kept.
            Finish(s, SubmissionState.Failed, e.Message);
        }
    }

    private static void Finish(Submission s, SubmissionState state, string? detail)
    {
        s.State = state;
        s.Detail = detail;
        s.FinishedAt = DateTimeOffset.UtcNow;
        s.Say(state.ToString().ToLowerInvariant() + (detail is null ? "" : $": {detail}"));
    }

    public async ValueTask DisposeAsync()
    {
        pending.Writer.TryComplete();
        await stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await worker.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        stopping.Dispose();
    }

    private sealed class Progress(Submission s) : IRunProgress
    {
        public void ExperimentStarted(ExperimentDefinition d, ExperimentSnapshot snapshot) => s.Say($"{d.Key}: started");

        public void RoundRecorded(ExperimentDefinition d, RoundRecord r, ExperimentSnapshot snapshot)
        {
            s.Round(r.Outcome == RoundOutcome.Measured);
            // One line a round, as `horizon run` prints it, so `run --controller` shows the same progress.
            s.Say(ProgressLines.Round(d, r, snapshot));
        }

        public void ExperimentFinished(ExperimentDefinition d, ExperimentStatus status, string? note, ExperimentSnapshot snapshot) =>
            s.Say($"{d.Key}: {status.ToString().ToLowerInvariant()}{(note is null ? "" : $" ({note})")}");

        public void Message(string text) => s.Say(text);
    }
}
