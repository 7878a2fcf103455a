using System.Collections.Concurrent;
using System.Threading.Channels;
using Horizon.Desk;
using Horizon.Grains;

namespace Horizon.Scheduler;

/// <summary>
/// Runs submitted campaigns one after another on the controller (they share its guests and its probe port). Each run
/// gets a timing service bound where its testbed says guests send probes.
/// </summary>
public sealed class EmbeddedCampaignDesk : ICampaignDesk, IAsyncDisposable
{
    private readonly EmbeddedController controller;
    private readonly Channel<Submission> pending = Channel.CreateUnbounded<Submission>();
    private readonly ConcurrentDictionary<string, Submission> submissions = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource stopping = new();
    private readonly Task worker;
    private readonly DateTimeOffset startedAt = DateTimeOffset.UtcNow;

    public EmbeddedCampaignDesk(EmbeddedController controller)
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

    public Task<IReadOnlyList<AgentView>> AgentsAsync()
    {
        var running = All.Where(s => s.State == SubmissionState.Running).Select(s => s).FirstOrDefault();
        return Task.FromResult<IReadOnlyList<AgentView>>([new AgentView(AgentIdentity.Embedded.Id, AgentIdentity.Embedded.Machine, System.Environment.ProcessId, true,
            DateTimeOffset.UtcNow, startedAt, true, [], null, null, [], running?.Name, running?.Campaign.Experiments.Length ?? 0, null)]);
    }

    public Task<IReadOnlyList<string>> TestbedsAsync() => Task.FromResult<IReadOnlyList<string>>([.. All.Select(s => s.Testbed.Name).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)]);

    public Task<TestbedView?> TestbedAsync(string name) => TestbedViews.ReadAsync(controller.Grains, name);

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
                CampaignExecution.Finish(s, SubmissionState.Cancelled, "cancelled before it started");
                continue;
            }

            using var ct = CancellationTokenSource.CreateLinkedTokenSource(s.Cancel.Token, stopping.Token);
            await CampaignExecution.ExecuteAsync(controller.Grains, s, null, null, ct.Token).ConfigureAwait(false);
        }
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
}
