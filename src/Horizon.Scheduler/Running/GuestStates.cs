using Horizon.Config;
using Horizon.Grains;

namespace Horizon.Scheduler.Running;

/// <summary>Keeps each guest's state (idle, preparing, ready, running, failed) in its grain and in the guest-state gauge.</summary>
internal sealed class GuestStates(IGrainFactory grains, Testbed testbed)
{
    public async Task SetAsync(GuestSpec guest, GuestStatus status, string? detail)
    {
        SchedulerMetrics.GuestState(testbed.Name, guest.Name, guest.Host, Names.Of(guest.Platform), status);
        await grains.GetGrain<IGuestGrain>($"{testbed.Name}/{guest.Name}").SetStatus(status, detail);
    }
}
