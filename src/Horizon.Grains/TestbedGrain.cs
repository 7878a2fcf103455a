namespace Horizon.Grains;

[GenerateSerializer, Alias("horizon.testbed-state")]
public sealed class TestbedGrainState
{
    [Id(0)] public TestbedLayout? Layout { get; set; }
}

/// <summary>A testbed's hosts and guests, as agents and campaigns registered them: the index the API reads host and guest grains by.</summary>
public sealed class TestbedGrain([PersistentState("testbed", HorizonGrainStorage.Name)] IPersistentState<TestbedGrainState> state) : Grain, ITestbedGrain
{
    public async Task Register(TestbedLayout layout)
    {
        var old = state.State.Layout;
        if (layout.Agent is null && old is not null)
        {
            // A campaign's testbed file may name a subset, or other names: it adds and updates, and keeps what the
            // serving agent registered from its own file (that registration, with an agent, is the whole layout).
            layout = new TestbedLayout(layout.Name,
                [.. old.Hosts.Where(h => layout.Hosts.All(n => n.Name != h.Name)).Concat(layout.Hosts)],
                [.. old.Guests.Where(g => layout.Guests.All(n => n.Name != g.Name)).Concat(layout.Guests)],
                old.Agent);
        }

        if (old is not null && old.Agent == layout.Agent && old.Hosts.SequenceEqual(layout.Hosts) && old.Guests.SequenceEqual(layout.Guests))
        {
            return;
        }

        state.State.Layout = layout;
        await state.WriteStateAsync();
    }

    public Task<TestbedLayout?> Layout() => Task.FromResult(state.State.Layout);
}
