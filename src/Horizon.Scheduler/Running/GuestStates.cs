using Horizon.Config;
using Horizon.Grains;

namespace Horizon.Scheduler.Running;

/// <summary>
/// Keeps each guest's state (idle, preparing, ready, running, failed) in its grain and in the guest-state gauge, with
/// who it works for: its host, this agent, the campaign and the experiment (the detail of a running guest).
/// </summary>
internal sealed class GuestStates(IGrainFactory grains, Testbed testbed, string agent, string campaign)
{
    public async Task SetAsync(GuestSpec guest, GuestStatus status, string? detail)
    {
        SchedulerMetrics.GuestState(testbed.Name, guest.Name, guest.Host, Names.Of(guest.Platform), status, agent);
        var grain = grains.GetGrain<IGuestGrain>($"{testbed.Name}/{guest.Name}");
        await grain.SetDuty(new GuestDuty(guest.Host, agent, campaign, status is GuestStatus.Idle or GuestStatus.Failed ? null : detail));
        await grain.SetStatus(status, detail);
    }
}
