namespace Horizon.Grains;

[GenerateSerializer, Alias("horizon.guest-state")]
public sealed class GuestState
{
    [Id(0)] public GuestStatus Status { get; set; }

    [Id(1)] public string? Detail { get; set; }

    [Id(2)] public long ChangedUnixMs { get; set; }

    [Id(3)] public GuestDuty? Duty { get; set; }
}

/// <summary>
/// A guest, live: its state (idle, preparing, ready, running, failed, unreachable), who it works for (host, agent,
/// campaign, experiment) and when its agent last heard of it. Key: "testbed/guest". Every block says "running" again:
/// a state that did not change is not written again (nor is its time moved); "last seen" is kept in memory.
/// </summary>
public sealed class GuestGrain(
    [PersistentState("guest", HorizonGrainStorage.Name)] IPersistentState<GuestState> state,
    TimeProvider time) : Grain, IGuestGrain
{
    private long seenUnixMs;

    public async Task SetStatus(GuestStatus status, string? detail)
    {
        seenUnixMs = time.GetUtcNow().ToUnixTimeMilliseconds();
        if (state.RecordExists && state.State.Status == status && state.State.Detail == detail)
        {
            return;
        }

        state.State.Status = status;
        state.State.Detail = detail;
        state.State.ChangedUnixMs = seenUnixMs;
        await state.WriteStateAsync();
    }

    public async Task SetDuty(GuestDuty duty)
    {
        seenUnixMs = time.GetUtcNow().ToUnixTimeMilliseconds();
        if (state.State.Duty == duty)
        {
            return;
        }

        state.State.Duty = duty;
        await state.WriteStateAsync();
    }

    public Task<GuestInfo> Info()
    {
        var name = this.GetPrimaryKeyString();
        var d = state.State.Duty;
        return Task.FromResult(new GuestInfo(name[(name.IndexOf('/') + 1)..], state.State.Status, state.State.Detail, state.State.ChangedUnixMs,
            d?.Host, d?.Agent, d?.Campaign, d?.Experiment, Math.Max(seenUnixMs, state.State.ChangedUnixMs)));
    }
}
