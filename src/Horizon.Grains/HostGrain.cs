using System.Collections.Immutable;

namespace Horizon.Grains;

[GenerateSerializer, Alias("horizon.host-state")]
public sealed class HostState
{
    [Id(0)] public HostDescription? Description { get; set; }

    [Id(1)] public string? Agent { get; set; }

    [Id(2)] public string? Platform { get; set; }

    [Id(3)] public string? Endpoint { get; set; }

    [Id(4)] public bool? Reachable { get; set; }

    [Id(5)] public string? ReachDetail { get; set; }

    [Id(6)] public long CheckedUnixMs { get; set; }

    [Id(7)] public string? Scheme { get; set; }

    [Id(8)] public ImmutableSortedDictionary<string, string> Placement { get; set; } = ImmutableSortedDictionary<string, string>.Empty;

    [Id(9)] public long PlacedUnixMs { get; set; }
}

/// <summary>
/// A test host, live: its hardware and topology (from the first experiment prepared on it), the agent that serves it,
/// whether that agent reached it at its last check, and the CPU placement read back for the experiment running now.
/// Key: "testbed/host". Only changes are written; the time of a repeated reachability check is kept in memory.
/// </summary>
public sealed class HostGrain([PersistentState("host", HorizonGrainStorage.Name)] IPersistentState<HostState> state, TimeProvider time) : Grain, IHostGrain
{
    private HostState S => state.State;

    public async Task Describe(HostDescription description)
    {
        S.Description = description;
        await state.WriteStateAsync();
    }

    public Task<HostDescription?> Description() => Task.FromResult(S.Description);

    public async Task ServedBy(string agent, string platform, string endpoint)
    {
        if (S.Agent == agent && S.Platform == platform && S.Endpoint == endpoint)
        {
            return;
        }

        (S.Agent, S.Platform, S.Endpoint) = (agent, platform, endpoint);
        await state.WriteStateAsync();
    }

    public async Task SetReachability(bool reachable, string? detail)
    {
        var changed = S.Reachable != reachable || S.ReachDetail != detail;
        (S.Reachable, S.ReachDetail, S.CheckedUnixMs) = (reachable, detail, time.GetUtcNow().ToUnixTimeMilliseconds());
        if (changed)
        {
            await state.WriteStateAsync();
        }
    }

    public async Task SetPlacement(string scheme, ImmutableSortedDictionary<string, string> placement)
    {
        S.PlacedUnixMs = time.GetUtcNow().ToUnixTimeMilliseconds();
        if (S.Scheme == scheme && S.Placement.SequenceEqual(placement))
        {
            return;
        }

        (S.Scheme, S.Placement) = (scheme, placement);
        await state.WriteStateAsync();
    }

    public Task<HostInfo> Info()
    {
        var name = this.GetPrimaryKeyString();
        return Task.FromResult(new HostInfo(name[(name.IndexOf('/') + 1)..], S.Platform, S.Agent, S.Endpoint, S.Description, S.Reachable, S.ReachDetail,
            S.CheckedUnixMs, S.Scheme, S.Placement, S.PlacedUnixMs));
    }
}
