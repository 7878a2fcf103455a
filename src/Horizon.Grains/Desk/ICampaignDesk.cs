using Horizon.Grains;

namespace Horizon.Desk;

/// <summary>
/// Where the API hands campaigns over and reads their progress: the embedded controller's in-process queue, or, in the
/// distributed mode, the submissions grain that every controller silo shares and the scheduler service works from.
/// </summary>
public interface ICampaignDesk
{
    /// <summary>The results store every round is recorded in.</summary>
    IResultsReader Results { get; }

    /// <summary>Queues a checked campaign; null when one of that name is already queued or running.</summary>
    Task<SubmissionView?> SubmitAsync(CampaignSubmission texts, Submission parsed);

    Task<SubmissionView?> FindAsync(string name);

    Task<IReadOnlyList<SubmissionView>> AllAsync();

    Task<bool> CancelAsync(string name);

    /// <summary>The agents that run experiments (distributed: one per test computer; embedded: this process).</summary>
    Task<IReadOnlyList<AgentView>> AgentsAsync();

    /// <summary>Testbeds known here: served by an agent or named by a submitted campaign.</summary>
    Task<IReadOnlyList<string>> TestbedsAsync();

    Task<TestbedView?> TestbedAsync(string name);
}
