using System.Net;
using Horizon.Desk;
using Horizon.Grains;
using Horizon.Results;
using Horizon.Timing;

namespace Horizon.Scheduler;

/// <summary>
/// Runs one submitted campaign to its end on this machine and keeps its submission current (state, counts, a line per
/// round): shared by the embedded controller's queue and the distributed scheduler service.
/// </summary>
public static class CampaignExecution
{
    /// <summary>The agent's side of a run: who runs it, which experiments (null: all), and the agent's own probe socket (null: the testbed's).</summary>
    public sealed record AgentPart(AgentIdentity Agent, IReadOnlySet<string>? Only, ProbeBinding? Probes);

    public sealed record ProbeBinding(string Address, int Port, string? Netns);

    /// <summary>
    /// Runs one submission to its end and says how it ended (on the submission: state, detail, log). Shared by the
    /// embedded controller's queue and the distributed scheduler service. <paramref name="probePort"/> is where probes
    /// arrive when the testbed names no port (null: any free one).
    /// </summary>
    public static async Task ExecuteAsync(IGrainFactory grains, Submission s, int? probePort, AgentPart? part, CancellationToken ct)
    {
        s.State = SubmissionState.Running;
        try
        {
            // An agent that serves testbeds of its own takes the probes on its own socket (its test computer's probe
            // address and namespace), whatever the submitted testbed says: probes never cross to another machine.
            var testbed = part?.Probes is { } own
                ? s.Testbed with { ProbeAddress = own.Address, ProbePort = own.Port, ProbeNetworkNamespace = own.Netns }
                : s.Testbed;
            var port = testbed.ProbePort != 0 ? testbed.ProbePort : probePort ?? 0;
            var bind = new IPEndPoint(IPAddress.Parse(testbed.ProbeAddress), port);
            using var timing = new TimingService(bind, networkNamespace: testbed.ProbeNetworkNamespace);
            s.Say($"running{(part is null ? "" : $" on agent {part.Agent.Id} ({part.Agent.Machine})")}{(part?.Only is { } only ? $", {only.Count} of {s.Campaign.Experiments.Length} experiment(s)" : "")}; " +
                $"probes on udp {timing.LocalEndPoint} ({timing.TimestampDescription})");
            var options = RunnerOptions.Default with { Agent = part?.Agent ?? AgentIdentity.Embedded };
            var outcome = await new CampaignRunner(grains, timing, testbed, new Progress(s), options).RunAsync(s.Campaign, part?.Only, ct).ConfigureAwait(false);
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

    public static void Finish(Submission s, SubmissionState state, string? detail)
    {
        s.State = state;
        s.Detail = detail;
        s.FinishedAt = DateTimeOffset.UtcNow;
        s.Say(state.ToString().ToLowerInvariant() + (detail is null ? "" : $": {detail}"));
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
