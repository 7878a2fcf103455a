using Horizon.Config;
using Horizon.Grains;
using Horizon.Probes;
using Horizon.Scripts;
using Horizon.Timing;

namespace Horizon.Scheduler.Running;

/// <summary>
/// Runs one block of an experiment's rounds: places the CPUs (experiments interleave on the same guests under different
/// schemes), uploads each guest's round script with the block's precomputed probes, starts the scripts detached, holds
/// concurrent guests at the start barrier, records every round the timing service concludes, and ends the experiment
/// when its round policy is met or its attempts are spent.
/// </summary>
internal sealed class BlockExecution(
    TimingService timing, Testbed testbed, RunnerOptions options, CpuPlacement placement, GuestStates states, RoundRecorder recorder,
    ExperimentCompletion completion, RunObserver observer)
{
    public async Task RunAsync(ExperimentRun run, int first, int count, CancellationToken ct)
    {
        // A block that fails half-way (a guest unreachable after others started) must not leave the started guests
        // waiting at the barrier or running rounds nobody follows: cancelling the block kills their process groups.
        using var block = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var scripts = new List<Task<CommandResult>>();
        try
        {
            await RunCoreAsync(run, first, count, scripts, block.Token);
        }
        catch (Exception) when (!ct.IsCancellationRequested)
        {
            await block.CancelAsync();
            try
            {
                await Task.WhenAll(scripts).WaitAsync(TimeSpan.FromSeconds(60), CancellationToken.None);
            }
            catch (Exception e) when (e is OperationCanceledException or TimeoutException or IOException or TestbedException)
            {
                // Stopped (or unreachable): what matters is that nothing keeps running unobserved where it can be reached.
            }

            throw;
        }
    }

    private async Task RunCoreAsync(ExperimentRun run, int first, int count, List<Task<CommandResult>> scripts, CancellationToken ct)
    {
        var key = ProbeFormat.NewKey();
        // The host's CPU accounting per round is read at the probes' arrival when the guests' host is this machine and is
        // not itself the guest (a native guest's own accounting is the host's).
        var hostHere = run.Guests.All(g => g.Platform != Platform.Native && IsThisMachine(testbed.HostOf(g)));
        using var session = timing.Register(run.Definition.Id, key, run.Guests.Length, first, first + count, run.Plan.RoundTimeout, options.MissingProbeGrace, hostHere);
        var reports = new GuestReports(session, run);
        var barrier = run.Guests.Length > 1;
        run.Placement = await placement.PlaceAsync(run, ct);
        for (var g = 0; g < run.Guests.Length; g++)
        {
            scripts.Add(await StartGuestAsync(run, g, key, first, count, barrier, reports, ct));
        }

        if (barrier)
        {
            await StartBarrier.ReleaseAsync(run, session, reports, first, observer, ct);
        }

        var stopRequested = await CollectAsync(run, session, reports, scripts, first, count, ct);
        await Task.WhenAll(scripts);
        if (reports.StoppedAt.Count > 0)
        {
            await run.Grain.ReleaseRounds(reports.StoppedAt.Values.Min());
        }

        var snapshot = await run.Grain.Snapshot();
        run.Snapshot = snapshot;
        var policy = run.Plan.Rounds;
        if (stopRequested || policy.IsSpent(snapshot.Measured, run.Guests.Length, snapshot.NextRound - run.Definition.Warmup))
        {
            // Done means the round policy was met; running out of attempts with fewer measured rounds is a failure.
            var needed = policy.Min * run.Guests.Length;
            var met = policy.IsMet(snapshot.Measured, run.Guests.Length);
            await completion.FinishAsync(run, met ? ExperimentStatus.Completed : ExperimentStatus.Failed,
                met ? null : snapshot.Measured == 0
                    ? $"no round was measured; last failure: {run.LastFailure}"
                    : $"only {snapshot.Measured} of {needed} rounds measured; last failure: {run.LastFailure}", ct);
        }
    }

    private async Task<Task<CommandResult>> StartGuestAsync(ExperimentRun run, int g, byte[] key, int first, int count, bool barrier, GuestReports reports, CancellationToken ct)
    {
        var workdir = run.Workdir(g);
        var payloads = RoundBlock.Payloads(run.Definition.Id, (uint)g, first, count, run.Plan.ProbeCopies, key);
        var block = new RoundBlock(workdir, testbed.ProbeAddress, timing.LocalEndPoint.Port, first, count, run.Plan.ProbeCopies, payloads, barrier);
        var transport = run.Transport(g);
        var affinity = run.Placement.Affinity[g];
        var command = affinity is null
            ? $"bash {GuestScripts.Quote(workdir + "/rounds.sh")}"
            : $"taskset -c {affinity} bash {GuestScripts.Quote(workdir + "/rounds.sh")}";
        var timeout = TimeSpan.FromTicks(run.Plan.RoundTimeout.Ticks * (count + 1)) + TimeSpan.FromMinutes(1);
        await states.SetAsync(run.Guests[g], GuestStatus.Running, run.Definition.Key);
        // The round script (it holds the block's probe tags) is written 0600 by the command that starts it.
        return DetachedRun.RunAsync(transport, workdir, command, timeout, line => reports.Handle(g, line), observer.Message, ct, ("rounds.sh", GuestScripts.Rounds(block, run.Scripts!)));
    }

    /// <summary>Records rounds as the timing service concludes them until every round of the block is accounted for.</summary>
    private async Task<bool> CollectAsync(ExperimentRun run, ExperimentTiming session, GuestReports reports, List<Task<CommandResult>> scripts, int first, int count, CancellationToken ct)
    {
        var allScripts = Task.WhenAll(scripts);
        var expected = run.Guests.Length * count;
        var concluded = 0;
        var stopRequested = false;
        while (concluded < expected)
        {
            var next = session.Results.ReadAsync(ct).AsTask();
            var finished = await Task.WhenAny(next, allScripts);
            if (finished == allScripts && !next.IsCompleted)
            {
                // Every guest script ended: rounds never reported were never run to the end and fail now. Rounds the
                // guests reported but whose end probe is still on its way conclude when it lands or when the timing
                // service's grace for a reported round runs out — no fixed wait.
                await ConcludeUnreportedAsync(run, session, scripts, reports, first, count);
                expected = run.Guests.Length * count - UnrunCount(run, reports, first, count);
                while (concluded < expected)
                {
                    var late = await next.WaitAsync(options.MissingProbeGrace + TimeSpan.FromSeconds(5), ct);
                    concluded++;
                    stopRequested |= await recorder.RecordAsync(run, late, reports, ct);
                    if (concluded < expected)
                    {
                        next = session.Results.ReadAsync(ct).AsTask();
                    }
                }

                continue;
            }

            concluded++;
            var stop = await recorder.RecordAsync(run, await next, reports, ct);
            if (stop && !stopRequested)
            {
                stopRequested = true;
                if (concluded >= expected)
                {
                    continue;
                }

                // Rounds of this block are still to run: tell the guests to skip them.
                for (var g = 0; g < run.Guests.Length; g++)
                {
                    await run.Transport(g).RunAsync($"touch {GuestScripts.Quote(run.Workdir(g) + "/stop")}", TimeSpan.FromSeconds(30), null, ct);
                }
            }

            if (reports.CpuMismatches.Any())
            {
                throw new TestbedException($"CPU scheme read-back differs: {string.Join("; ", reports.CpuMismatches)}");
            }
        }

        return stopRequested;
    }

    /// <summary>
    /// Whether a host is the machine this scheduler runs on: reached locally, or over SSH to a loopback address — except a
    /// Xen host there, which is a nested VM behind a forwarded port (the lab's), not this kernel.
    /// </summary>
    internal static bool IsThisMachine(TestHost host) =>
        host.Transport.Kind == TransportKind.Local
        || (host.Platform != Platform.Xen && host.Transport.Address is { } a
            && (a == "localhost" || (System.Net.IPAddress.TryParse(a, out var ip) && System.Net.IPAddress.IsLoopback(ip))));

    /// <summary>Rounds a guest never ran because it stopped (as told) before them.</summary>
    private static int UnrunCount(ExperimentRun run, GuestReports reports, int first, int count) =>
        Enumerable.Range(0, run.Guests.Length).Sum(g => Enumerable.Range(first, count).Count(r => !reports.WasReported(new(g, r)) && reports.StoppedBefore(new(g, r))));

    private static async Task ConcludeUnreportedAsync(ExperimentRun run, ExperimentTiming session, List<Task<CommandResult>> scripts, GuestReports reports, int first, int count)
    {
        for (var g = 0; g < run.Guests.Length; g++)
        {
            var result = await scripts[g];
            for (var r = first; r < first + count; r++)
            {
                if (reports.WasReported(new(g, r)) || reports.StoppedBefore(new(g, r)))
                {
                    continue;
                }

                var why = result.TimedOut
                    ? "the guest script was killed after its time limit"
                    : $"the guest script ended (exit {result.ExitCode}) before reporting this round: {result.ErrorTail}";
                session.Abandon((uint)g, (uint)r, why);
            }
        }
    }
}
