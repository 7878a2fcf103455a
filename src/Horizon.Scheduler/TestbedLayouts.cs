using Horizon.Config;
using Horizon.Grains;

namespace Horizon.Scheduler;

public static class TestbedLayouts
{
    /// <summary>A testbed's hosts (with their endpoints) and guests, as the testbed grain keeps them.</summary>
    public static TestbedLayout Of(Testbed testbed, string? agent) => new(
        testbed.Name,
        [.. testbed.Hosts.Select(h => new TestbedHostEntry(h.Name, Names.Of(h.Platform), HostEndpoint.Of(h)))],
        [.. testbed.Guests.Select(g => new TestbedGuestEntry(g.Name, g.Host, Names.Of(g.Platform)))],
        agent);
}
