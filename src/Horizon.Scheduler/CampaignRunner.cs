using System.Collections.Immutable;
using Horizon.Config;
using Horizon.Grains;
using Horizon.Scheduler.Running;
using Horizon.Timing;
using Horizon.Workloads;

namespace Horizon.Scheduler;

public sealed record CampaignOutcome(string Campaign, ImmutableArray<(ExperimentDefinition Definition, ExperimentStatus Status, string? Note)> Experiments)
{
    public bool AllCompleted => Experiments.All(e => e.Status == ExperimentStatus.Completed);
}

public sealed record RunnerOptions(TimeSpan PrepareTimeout, TimeSpan MissingProbeGrace)
{
    public static RunnerOptions Default { get; } = new(TimeSpan.FromMinutes(30), TimeSpan.FromSeconds(2));

    /// <summary>Who runs the experiments (recorded in their environment, and in the host and guest grains).</summary>
    public AgentIdentity Agent { get; init; } = AgentIdentity.Embedded;
}

/// <summary>
/// Runs a campaign: defines its experiments in their grains, then interleaves them in round blocks (a seeded random
/// order each pass, recorded), each prepared before its first block. The stages live in <c>Running/</c>: sessions,
/// peer services, preparation, CPU placement, block execution (start barrier, guest reports, round assembly), completion.
/// </summary>
public sealed class CampaignRunner(IGrainFactory grains, TimingService timing, Testbed testbed, IRunProgress? progress = null, RunnerOptions? options = null)
{
    /// <summary>Round metric: the start probe's arrival, seconds on the controller's monotonic clock.</summary>
    public const string StartMetric = Results.RoundResult.StartMetric;

    public Task<CampaignOutcome> RunAsync(Campaign campaign, CancellationToken ct = default) => RunAsync(campaign, null, ct);

    /// <summary>Runs the campaign, or only the experiments whose keys <paramref name="only"/> names (an agent's part of it).</summary>
    public async Task<CampaignOutcome> RunAsync(Campaign campaign, IReadOnlySet<string>? only, CancellationToken ct)
    {
        var observer = new RunObserver(progress ?? SilentProgress.Instance);
        var settings = options ?? RunnerOptions.Default;
        await using var sessions = new GuestSessions();
        var states = new GuestStates(grains, testbed, settings.Agent.Id, campaign.Name);
        var peers = new PeerServices(testbed, observer);
        var placement = new CpuPlacement(grains, testbed, sessions);
        var preparation = new ExperimentPreparation(grains, testbed, settings, states, peers, placement, timing.TimestampDescription);
        var completion = new ExperimentCompletion(states, peers, observer);
        var blocks = new BlockExecution(timing, testbed, settings, placement, states, new RoundRecorder(observer), completion, observer);

        var campaignGrain = grains.GetGrain<ICampaignGrain>(campaign.Name);
        await RegisterAsync(settings.Agent);
        var runs = await DefineAsync(campaign, campaignGrain, sessions, only);
        foreach (var run in runs.Where(r => r.Snapshot.Status is ExperimentStatus.Completed or ExperimentStatus.Failed))
        {
            run.Done = true;
            run.FinalStatus = run.Snapshot.Status;
            observer.Message($"{run.Definition.Key}: already {run.Snapshot.Status.ToString().ToLowerInvariant()} ({run.Snapshot.Measured} rounds measured), skipped");
        }

        var pass = 0;
        while (runs.Any(r => !r.Done))
        {
            ct.ThrowIfCancellationRequested();
            var random = new Random(HashCode.Combine(campaign.Interleave.Seed, pass++));
            foreach (var run in runs.Where(r => !r.Done).OrderBy(_ => random.Next()).ToList())
            {
                ct.ThrowIfCancellationRequested();
                if (!run.Prepared && !await TryPrepareAsync(run, preparation, completion, observer, ct))
                {
                    continue;
                }

                // Warm-up rounds run first, all in one block, right before the experiment's first measured rounds.
                var warmupLeft = run.Definition.Warmup - run.Snapshot.NextRound;
                var count = warmupLeft > 0 ? warmupLeft : Math.Min(campaign.Interleave.BlockRounds, Math.Max(1, run.Plan.Rounds.Max - run.Snapshot.Measured));
                var first = await run.Grain.ReserveRounds(count);
                await campaignGrain.AppendRunOrder(run.Definition.Id, first, count);
                try
                {
                    await blocks.RunAsync(run, first, count, ct);
                }
                catch (OperationCanceledException)
                {
                    throw;
                }
                catch (Exception e) when (e is TestbedException or IOException)
                {
                    await completion.FinishAsync(run, ExperimentStatus.Failed, e.Message, ct);
                }
            }
        }

        return new CampaignOutcome(campaign.Name, [.. runs.Select(r => (r.Definition, r.FinalStatus, r.Note))]);
    }

    /// <summary>The testbed's hosts and guests in their grains: which agent serves each host, and the testbed's layout.</summary>
    private async Task RegisterAsync(AgentIdentity agent)
    {
        await grains.GetGrain<ITestbedGrain>(testbed.Name).Register(TestbedLayouts.Of(testbed, null));
        foreach (var host in testbed.Hosts)
        {
            await grains.GetGrain<IHostGrain>($"{testbed.Name}/{host.Name}").ServedBy(agent.Id, Names.Of(host.Platform), HostEndpoint.Of(host));
        }
    }

    private async Task<List<ExperimentRun>> DefineAsync(Campaign campaign, ICampaignGrain campaignGrain, GuestSessions sessions, IReadOnlySet<string>? only)
    {
        var ids = await campaignGrain.Plan(testbed.Name, [.. campaign.Experiments.Select(e => e.Key).Where(k => only is null || only.Contains(k))]);
        var runs = new List<ExperimentRun>();
        for (var i = 0; i < campaign.Experiments.Length; i++)
        {
            var plan = campaign.Experiments[i];
            if (only is not null && !only.Contains(plan.Key))
            {
                continue;
            }

            var guests = plan.Guests.Select(testbed.Guest).ToImmutableArray();
            var def = new ExperimentDefinition(
                ids[plan.Key], campaign.Name, plan.Key, plan.Workload.Name, plan.Workload.Parameters, plan.Guests,
                [.. guests.Select(g => Names.Of(g.Platform))], Names.Of(plan.Scheme), plan.Rounds.Min, plan.Rounds.Max,
                plan.Rounds.TargetRelativeHalfWidth, plan.RoundTimeout.TotalSeconds, i, WorkloadCatalog.Get(plan.Workload.Name).PrimaryMetric.Name, plan.Warmup);
            var grain = grains.GetGrain<IExperimentGrain>(def.Id);
            var snapshot = await grain.Define(def);
            runs.Add(new ExperimentRun(plan, def with { Warmup = snapshot.Warmup }, grain, guests, snapshot, sessions));
        }

        return runs;
    }

    private static async Task<bool> TryPrepareAsync(ExperimentRun run, ExperimentPreparation preparation, ExperimentCompletion completion, RunObserver observer, CancellationToken ct)
    {
        observer.ExperimentStarted(run.Definition, run.Snapshot);
        try
        {
            await preparation.PrepareAsync(run, ct);
            return true;
        }
        catch (Exception e) when (e is TestbedException or IOException)
        {
            await completion.FinishAsync(run, ExperimentStatus.Failed, e.Message, ct);
            return false;
        }
    }
}
