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
        // A campaign's registration does not know the agent; it keeps the one an agent gave.
        layout = layout with { Agent = layout.Agent ?? old?.Agent };
        if (old is not null && old.Agent == layout.Agent && old.Hosts.SequenceEqual(layout.Hosts) && old.Guests.SequenceEqual(layout.Guests))
        {
            return;
        }

        state.State.Layout = layout;
        await state.WriteStateAsync();
    }

    public Task<TestbedLayout?> Layout() => Task.FromResult(state.State.Layout);
}
