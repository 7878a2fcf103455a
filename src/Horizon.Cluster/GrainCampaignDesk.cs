using Horizon.Config;
using Horizon.Desk;
using Horizon.Grains;

namespace Horizon.Cluster;

/// <summary>The API's desk in the distributed mode: submissions live in the cluster's submissions grain, results in Redis.</summary>
public sealed class GrainCampaignDesk(IGrainFactory grains, IResultsReader results) : ICampaignDesk
{
    private ISubmissionsGrain Desk => grains.GetGrain<ISubmissionsGrain>(ClusterSetup.DeskKey);

    public IResultsReader Results => results;

    public async Task<SubmissionView?> SubmitAsync(CampaignSubmission texts, Submission parsed)
    {
        var entry = new SubmissionEntry
        {
            Name = parsed.Name,
            Testbed = texts.Testbed,
            Campaign = texts.Campaign,
            Preset = texts.Campaign is null ? texts.Preset ?? "quick" : null,
            TestbedName = parsed.Testbed.Name,
            Experiments = parsed.Campaign.Experiments.Length,
            PlannedRounds = parsed.PlannedRounds,
            LeftOut = [.. parsed.Campaign.Skipped],
            Placement = [.. parsed.Campaign.Experiments.Select(plan =>
            {
                var hosts = plan.Guests.Select(g => parsed.Testbed.HostOf(parsed.Testbed.Guest(g))).DistinctBy(h => h.Name).ToList();
                return new PlacedExperiment
                {
                    Key = plan.Key,
                    Endpoints = [.. hosts.Select(HostEndpoint.Of)],
                    Hosts = [.. hosts.Select(h => $"'{h.Name}' ({HostEndpoint.Of(h)}, testbed {parsed.Testbed.Name})")],
                };
            })],
        };
        return (await Desk.Submit(entry))?.View();
    }

    public async Task<SubmissionView?> FindAsync(string name) => (await Desk.Find(name))?.View();

    public async Task<IReadOnlyList<SubmissionView>> AllAsync() => [.. (await Desk.All()).Select(e => e.View())];

    public Task<bool> CancelAsync(string name) => Desk.Cancel(name);

    public async Task<IReadOnlyList<AgentView>> AgentsAsync() => await Desk.Agents();

    public async Task<IReadOnlyList<string>> TestbedsAsync() => await Desk.Testbeds();

    public Task<TestbedView?> TestbedAsync(string name) => TestbedViews.ReadAsync(grains, name);
}
