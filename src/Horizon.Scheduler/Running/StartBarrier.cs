using Horizon.Config;
using Horizon.Scripts;
using Horizon.Timing;

namespace Horizon.Scheduler.Running;

/// <summary>
/// Concurrent guests start their block together: every guest is prepared and waiting before any is released. Released by
/// one datagram per guest from the timing socket; the go file over SSH only for guests whose ready probe never arrived
/// (SSH release is slow under load: a shared core delays the last guest's sshd), and for guests that did not start
/// within a few seconds of their release datagram (every release datagram lost, or dropped on the way back).
/// </summary>
internal static class StartBarrier
{
    public static async Task ReleaseAsync(ExperimentRun run, ExperimentTiming session, GuestReports reports, int first, RunObserver observer, CancellationToken ct)
    {
        await Task.Run(() => reports.Ready.Wait(TimeSpan.FromMinutes(5), ct), ct);
        await Task.Delay(TimeSpan.FromMilliseconds(20), ct);
        var released = session.Release();
        var late = Enumerable.Range(0, run.Guests.Length).Where(i => !released.Contains((uint)i)).ToList();
        if (late.Count > 0)
        {
            observer.Message($"start barrier: released {string.Join(", ", late.Select(i => run.Guests[i].Name))} over SSH (no ready probe arrived)");
        }

        await Task.WhenAll(late.Select(i => GoAsync(run, i, ct)));
        _ = Task.Run(async () =>
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(5), ct);
                var stuck = Enumerable.Range(0, run.Guests.Length).Where(i => !late.Contains(i) && !session.HasStarted((uint)i, (uint)first) && !session.IsConcluded((uint)i, (uint)first)).ToList();
                if (stuck.Count > 0)
                {
                    observer.Message($"start barrier: {string.Join(", ", stuck.Select(i => run.Guests[i].Name))} did not start 5 s after the release datagram; released over SSH");
                    await Task.WhenAll(stuck.Select(i => GoAsync(run, i, ct)));
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or IOException or TestbedException)
            {
                // The block ended or the campaign stopped first: nothing left to release.
            }
        }, ct);
    }

    private static Task<CommandResult> GoAsync(ExperimentRun run, int guest, CancellationToken ct) =>
        run.Transport(guest).RunAsync($"touch {GuestScripts.Quote(run.Workdir(guest) + "/go")}", TimeSpan.FromSeconds(30), null, ct);
}
