using System.Collections.Immutable;

namespace Horizon.Grains;

[GenerateSerializer, Alias("horizon.campaign-state")]
public sealed class CampaignState
{
    [Id(0)] public string Testbed { get; set; } = "";

    [Id(1)] public Dictionary<string, Guid> Experiments { get; set; } = [];

    [Id(2)] public List<RunOrderEntry> RunOrder { get; set; } = [];
}

public sealed class CampaignGrain(
    [PersistentState("campaign", HorizonGrainStorage.Name)] IPersistentState<CampaignState> state,
    IResultsSink sink) : Grain, ICampaignGrain
{
    public async Task<ImmutableDictionary<string, Guid>> Plan(string testbed, ImmutableArray<string> experimentKeys)
    {
        state.State.Testbed = testbed;
        foreach (var key in experimentKeys)
        {
            if (!state.State.Experiments.ContainsKey(key))
            {
                state.State.Experiments[key] = Guid.NewGuid();
            }
        }

        await state.WriteStateAsync();
        return experimentKeys.ToImmutableDictionary(k => k, k => state.State.Experiments[k]);
    }

    public async Task<int> AppendRunOrder(Guid experiment, int firstRound, int rounds)
    {
        var seq = state.State.RunOrder.Count;
        state.State.RunOrder.Add(new RunOrderEntry(seq, experiment, firstRound, rounds));
        await sink.RunOrder(this.GetPrimaryKeyString(), seq, experiment, firstRound, rounds);
        await state.WriteStateAsync();
        return seq;
    }

    public Task<ImmutableArray<RunOrderEntry>> RunOrder() => Task.FromResult(state.State.RunOrder.ToImmutableArray());
}
