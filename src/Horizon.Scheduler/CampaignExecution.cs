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
