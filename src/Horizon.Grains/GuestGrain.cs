namespace Horizon.Grains;

[GenerateSerializer, Alias("horizon.guest-state")]
public sealed class GuestState
{
    [Id(0)] public GuestStatus Status { get; set; }

    [Id(1)] public string? Detail { get; set; }

    [Id(2)] public long ChangedUnixMs { get; set; }
}

public sealed class GuestGrain(
    [PersistentState("guest", HorizonGrainStorage.Name)] IPersistentState<GuestState> state,
    TimeProvider time) : Grain, IGuestGrain
{
    public async Task SetStatus(GuestStatus status, string? detail)
    {
        // Every block says "running" again: a state that did not change is not written again (nor is its time moved).
        if (state.RecordExists && state.State.Status == status && state.State.Detail == detail)
        {
            return;
        }

        state.State.Status = status;
        state.State.Detail = detail;
        state.State.ChangedUnixMs = time.GetUtcNow().ToUnixTimeMilliseconds();
        await state.WriteStateAsync();
    }

    public Task<GuestInfo> Info() => Task.FromResult(new GuestInfo(this.GetPrimaryKeyString(), state.State.Status, state.State.Detail, state.State.ChangedUnixMs));
}
