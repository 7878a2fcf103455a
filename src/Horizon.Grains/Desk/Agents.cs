using System.Collections.Immutable;
using Horizon.Grains;

namespace Horizon.Desk;

/// <summary>What an agent says about itself each time it asks for work: who, where, which test hosts it serves.</summary>
[GenerateSerializer, Immutable, Alias("horizon.agent-hello")]
public sealed record AgentHello(
    [property: Id(0)] string Id,
    [property: Id(1)] string Machine,
    [property: Id(2)] int Pid,
    [property: Id(3)] bool ServesAny,
    [property: Id(4)] ImmutableArray<ServedHost> Hosts,
    [property: Id(5)] string? Probes,
    [property: Id(6)] HostDescription? Hardware,
    [property: Id(7)] ImmutableArray<string> Unreachable,
    [property: Id(8)] DateTimeOffset StartedAt);

[GenerateSerializer, Immutable, Alias("horizon.served-host")]
public sealed record ServedHost([property: Id(0)] string Testbed, [property: Id(1)] string Host, [property: Id(2)] string Endpoint);

/// <summary>An agent as the API shows it.</summary>
[GenerateSerializer, Immutable, Alias("horizon.agent-view")]
public sealed record AgentView(
    [property: Id(0)] string Id,
    [property: Id(1)] string Machine,
    [property: Id(2)] int Pid,
    [property: Id(3)] bool Live,
    [property: Id(4)] DateTimeOffset HeardAt,
    [property: Id(5)] DateTimeOffset StartedAt,
    [property: Id(6)] bool ServesAny,
    [property: Id(7)] ImmutableArray<ServedHost> Hosts,
    [property: Id(8)] string? Probes,
    [property: Id(9)] HostDescription? Hardware,
    [property: Id(10)] ImmutableArray<string> Unreachable,
    [property: Id(11)] string? Campaign,
    [property: Id(12)] int RunningExperiments,
    [property: Id(13)] double? FirstClaimAfterSeconds);

/// <summary>A testbed as the API shows it: the agent serving it, each host and each guest, live from their grains.</summary>
public sealed record TestbedView(string Name, string? Agent, IReadOnlyList<TestbedHostView> Hosts, IReadOnlyList<TestbedGuestView> Guests);

public sealed record TestbedHostView(string Platform, HostInfo Host);

public sealed record TestbedGuestView(string Platform, GuestInfo Guest);

public static class TestbedViews
{
    /// <summary>Reads the testbed's layout and every host and guest grain it names; null for a testbed no agent or campaign registered.</summary>
    public static async Task<TestbedView?> ReadAsync(IGrainFactory grains, string name)
    {
        if (await grains.GetGrain<ITestbedGrain>(name).Layout() is not { } layout)
        {
            return null;
        }

        var hosts = new List<TestbedHostView>();
        foreach (var h in layout.Hosts)
        {
            hosts.Add(new TestbedHostView(h.Platform, await grains.GetGrain<IHostGrain>($"{name}/{h.Name}").Info()));
        }

        var guests = new List<TestbedGuestView>();
        foreach (var g in layout.Guests)
        {
            var info = await grains.GetGrain<IGuestGrain>($"{name}/{g.Name}").Info();
            guests.Add(new TestbedGuestView(g.Platform, info with { Host = info.Host ?? g.Host }));
        }

        return new TestbedView(name, layout.Agent, hosts, guests);
    }
}
