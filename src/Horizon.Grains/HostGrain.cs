namespace Horizon.Grains;

[GenerateSerializer, Alias("horizon.host-state")]
public sealed class HostState
{
    [Id(0)] public HostDescription? Description { get; set; }
}

public sealed class HostGrain([PersistentState("host", HorizonGrainStorage.Name)] IPersistentState<HostState> state) : Grain, IHostGrain
{
    public async Task Describe(HostDescription description)
    {
        state.State.Description = description;
        await state.WriteStateAsync();
    }

    public Task<HostDescription?> Description() => Task.FromResult(state.State.Description);
}
