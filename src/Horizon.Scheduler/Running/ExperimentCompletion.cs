using Horizon.Config;
using Horizon.Grains;
using Horizon.Scripts;

namespace Horizon.Scheduler.Running;

/// <summary>
/// Ends an experiment: its status and note into the grain, its guests back to idle (or failed), the guest's work
/// directory cleaned up (the workload's cleanup step first), the peer's service released, and the observers told.
/// </summary>
internal sealed class ExperimentCompletion(GuestStates states, PeerServices peers, RunObserver observer)
{
    public async Task FinishAsync(ExperimentRun run, ExperimentStatus status, string? note, CancellationToken ct)
    {
        run.Done = true;
        run.FinalStatus = status;
        run.Note = note;
        await run.Grain.Complete(status, note);
        run.Snapshot = await run.Grain.Snapshot();
        for (var g = 0; g < run.Guests.Length; g++)
        {
            await states.SetAsync(run.Guests[g], status == ExperimentStatus.Failed ? GuestStatus.Failed : GuestStatus.Idle, note);
            if (run.Scripts is not null && run.Prepared)
            {
                try
                {
                    await run.Transport(g).RunAsync(GuestScripts.Cleanup(run.Workdir(g), run.Scripts.Cleanup), TimeSpan.FromMinutes(5), null, ct);
                }
                catch (Exception e) when (e is TestbedException or IOException)
                {
                    observer.Message($"cleanup on {run.Guests[g].Name} failed: {e.Message}");
                }
            }
        }

        foreach (var peerService in run.PeerServices)
        {
            await peers.ReleaseAsync(peerService);
        }

        run.PeerServices.Clear();
        observer.ExperimentFinished(run.Definition, status, note, run.Snapshot);
    }
}
