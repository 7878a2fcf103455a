using System.Collections.Immutable;
using Horizon.Statistics;
using Orleans.Runtime;

namespace Horizon.Grains;

/// <summary>Where grains write results (the embedded SQLite store, or a shared store in the distributed mode).</summary>
public interface IResultsSink
{
    Task Experiment(ExperimentDefinition definition, ExperimentStatus status, string? stopReason, string? note, long createdMs, long? finishedMs);

    Task<bool> Round(RoundRecord round);

    Task Environment(Guid experiment, string json);

    Task RunOrder(string campaign, int sequence, Guid experiment, int firstRound, int rounds);
}

/// <summary>What reports read back: campaigns, their experiments with every round, and the order rounds ran in.</summary>
public interface IResultsReader
{
    /// <summary>Campaign names, most recently started first.</summary>
    ImmutableArray<string> Campaigns();

    ImmutableArray<Horizon.Results.ExperimentResult> Experiments(string? campaign);

    ImmutableArray<(int Seq, Guid Experiment, int FirstRound, int Rounds)> RunOrder(string campaign);
}

public sealed class StoreResultsSink(ResultsStore store) : IResultsSink
{
    public Task Experiment(ExperimentDefinition definition, ExperimentStatus status, string? stopReason, string? note, long createdMs, long? finishedMs) =>
        store.UpsertExperimentAsync(definition, status, stopReason, note, createdMs, finishedMs);

    public Task<bool> Round(RoundRecord round) => store.InsertRoundAsync(round);

    public Task Environment(Guid experiment, string json) => store.SetEnvironmentAsync(experiment, json);

    public Task RunOrder(string campaign, int sequence, Guid experiment, int firstRound, int rounds) =>
        store.AppendRunOrderAsync(campaign, sequence, experiment, firstRound, rounds);
}

[GenerateSerializer, Alias("horizon.experiment-state")]
public sealed class ExperimentState
{
    [Id(0)] public ExperimentDefinition? Definition { get; set; }

    [Id(1)] public ExperimentStatus Status { get; set; }

    [Id(2)] public int NextRound { get; set; }

    /// <summary>Measured seconds per guest index, in round order.</summary>
    [Id(3)] public Dictionary<int, List<double>> Measured { get; set; } = [];

    [Id(4)] public int Failed { get; set; }

    [Id(5)] public HashSet<string> Recorded { get; set; } = [];

    [Id(6)] public string? StopReason { get; set; }

    [Id(7)] public string? Note { get; set; }

    [Id(8)] public long CreatedUnixMs { get; set; }

    [Id(9)] public long? FinishedUnixMs { get; set; }
}

public sealed class ExperimentGrain(
    [PersistentState("experiment", SqliteGrainStorage.Name)] IPersistentState<ExperimentState> state,
    IResultsSink sink,
    TimeProvider time) : Grain, IExperimentGrain
{
    private Dictionary<int, int>? attempted;

    private ExperimentState S => state.State;

    public async Task<ExperimentSnapshot> Define(ExperimentDefinition definition)
    {
        if (S.Definition is null)
        {
            S.Definition = definition;
            S.Status = ExperimentStatus.Pending;
            S.CreatedUnixMs = time.GetUtcNow().ToUnixTimeMilliseconds();
        }
        else
        {
            // Resume: rounds reserved by a run that died before recording them are recorded as failed, never dropped.
            S.Definition = definition with { Id = S.Definition.Id };
            if (S.Status is ExperimentStatus.Running)
            {
                for (var g = 0; g < S.Definition.Guests.Length; g++)
                {
                    for (var r = 0; r < S.NextRound; r++)
                    {
                        if (!S.Recorded.Contains(Key(g, r)))
                        {
                            await RecordCore(new RoundRecord(S.Definition.Id, g, S.Definition.Guests[g], r, RoundOutcome.Failed, null, null, null, null,
                                "interrupted: the controller stopped before this round was recorded", time.GetUtcNow().ToUnixTimeMilliseconds()));
                        }
                    }
                }

                S.Status = ExperimentStatus.Pending;
            }
        }

        await sink.Experiment(S.Definition, S.Status, S.StopReason, S.Note, S.CreatedUnixMs, S.FinishedUnixMs);
        await state.WriteStateAsync();
        return Snap();
    }

    public async Task<int> ReserveRounds(int count)
    {
        Require();
        var first = S.NextRound;
        S.NextRound += count;
        if (S.Status == ExperimentStatus.Pending)
        {
            S.Status = ExperimentStatus.Running;
            await sink.Experiment(S.Definition!, S.Status, S.StopReason, S.Note, S.CreatedUnixMs, S.FinishedUnixMs);
        }

        await state.WriteStateAsync();
        return first;
    }

    public async Task ReleaseRounds(int fromRound)
    {
        Require();
        if (fromRound < S.NextRound && !S.Recorded.Any(k => int.Parse(k[(k.IndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture) >= fromRound))
        {
            S.NextRound = fromRound;
            await state.WriteStateAsync();
        }
    }

    public async Task<RoundDecision> Record(RoundRecord round)
    {
        Require();
        var fresh = await RecordCore(round);
        await state.WriteStateAsync();
        var decision = Decide();
        return new RoundDecision(decision.Stop, decision.Reason, !fresh, Snap());
    }

    public async Task<RoundDecision> RecordMany(ImmutableArray<RoundRecord> rounds)
    {
        Require();
        var fresh = rounds.DistinctBy(r => Key(r.GuestIndex, r.Round)).Where(r => !S.Recorded.Contains(Key(r.GuestIndex, r.Round))).ToList();

        // All rows go to the store together (one commit), then the grain counts them and persists its state once.
        await Task.WhenAll(fresh.Select(sink.Round));
        foreach (var r in fresh)
        {
            Count(r);
        }

        await state.WriteStateAsync();
        var decision = Decide();
        return new RoundDecision(decision.Stop, decision.Reason, fresh.Count < rounds.Length, Snap());
    }

    public async Task SetEnvironment(string json)
    {
        Require();
        await sink.Environment(S.Definition!.Id, json);
    }

    public async Task Complete(ExperimentStatus status, string? note)
    {
        Require();
        S.Status = status;
        S.StopReason = Decide().Reason ?? S.StopReason;
        S.Note = note;
        S.FinishedUnixMs = time.GetUtcNow().ToUnixTimeMilliseconds();
        await sink.Experiment(S.Definition!, S.Status, S.StopReason, S.Note, S.CreatedUnixMs, S.FinishedUnixMs);
        await state.WriteStateAsync();
    }

    public Task<ExperimentSnapshot> Snapshot() => Task.FromResult(Snap());

    private async Task<bool> RecordCore(RoundRecord round)
    {
        var key = Key(round.GuestIndex, round.Round);
        if (S.Recorded.Contains(key))
        {
            return false;
        }

        // The results row is durable before the grain counts the round: a failed write leaves the round unrecorded.
        await sink.Round(round);
        Count(round);
        return true;
    }

    private void Count(RoundRecord round)
    {
        var key = Key(round.GuestIndex, round.Round);
        var counts = Attempted();
        S.Recorded.Add(key);
        counts[round.GuestIndex] = counts.GetValueOrDefault(round.GuestIndex) + 1;
        var value = S.Definition!.Metric == "duration" ? round.Seconds : round.Metrics?.GetValueOrDefault(S.Definition.Metric);
        if (round.Outcome == RoundOutcome.Measured && value is { } seconds)
        {
            if (!S.Measured.TryGetValue(round.GuestIndex, out var list))
            {
                S.Measured[round.GuestIndex] = list = [];
            }

            list.Add(seconds);
        }
        else
        {
            S.Failed++;
        }
    }

    private StopDecision Decide()
    {
        var d = S.Definition!;
        var policy = new RoundPolicy(d.MinRounds, d.MaxRounds, d.TargetRelativeHalfWidth);
        var decisions = Enumerable.Range(0, d.Guests.Length).Select(g =>
        {
            var values = S.Measured.TryGetValue(g, out var list) && list.Count > 0 ? new SampleStatistics(list) : null;
            return policy.Decide(values, Attempted().GetValueOrDefault(g));
        }).ToList();
        return decisions.All(x => x.Stop) ? decisions[0] : new StopDecision(false, null);
    }

    /// <summary>Recorded rounds per guest, derived from the recorded keys once per activation and kept up to date.</summary>
    private Dictionary<int, int> Attempted()
    {
        if (attempted is null)
        {
            attempted = [];
            foreach (var k in S.Recorded)
            {
                var g = int.Parse(k.AsSpan(0, k.IndexOf(':')), System.Globalization.CultureInfo.InvariantCulture);
                attempted[g] = attempted.GetValueOrDefault(g) + 1;
            }
        }

        return attempted;
    }

    private ExperimentSnapshot Snap()
    {
        var all = S.Measured.Values.SelectMany(v => v).ToList();
        SampleStatistics? stats = all.Count > 0 ? new SampleStatistics(all) : null;
        return new ExperimentSnapshot(
            S.Definition?.Id ?? this.GetPrimaryKey(), S.Status, all.Count, S.Failed, stats?.Mean,
            stats is { N: > 1 } ? stats.Interval.HalfWidth : null, S.NextRound, S.StopReason);
    }

    private void Require()
    {
        if (S.Definition is null)
        {
            throw new InvalidOperationException($"experiment {this.GetPrimaryKey()} was never defined");
        }
    }

    private static string Key(int guest, int round) => $"{guest}:{round}";
}

[GenerateSerializer, Alias("horizon.campaign-state")]
public sealed class CampaignState
{
    [Id(0)] public string Testbed { get; set; } = "";

    [Id(1)] public Dictionary<string, Guid> Experiments { get; set; } = [];

    [Id(2)] public List<RunOrderEntry> RunOrder { get; set; } = [];
}

public sealed class CampaignGrain(
    [PersistentState("campaign", SqliteGrainStorage.Name)] IPersistentState<CampaignState> state,
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

[GenerateSerializer, Alias("horizon.host-state")]
public sealed class HostState
{
    [Id(0)] public HostDescription? Description { get; set; }
}

public sealed class HostGrain([PersistentState("host", SqliteGrainStorage.Name)] IPersistentState<HostState> state) : Grain, IHostGrain
{
    public async Task Describe(HostDescription description)
    {
        state.State.Description = description;
        await state.WriteStateAsync();
    }

    public Task<HostDescription?> Get() => Task.FromResult(state.State.Description);
}

[GenerateSerializer, Alias("horizon.guest-state")]
public sealed class GuestState
{
    [Id(0)] public GuestStatus Status { get; set; }

    [Id(1)] public string? Detail { get; set; }

    [Id(2)] public long ChangedUnixMs { get; set; }
}

public sealed class GuestGrain(
    [PersistentState("guest", SqliteGrainStorage.Name)] IPersistentState<GuestState> state,
    TimeProvider time) : Grain, IGuestGrain
{
    public async Task SetStatus(GuestStatus status, string? detail)
    {
        state.State.Status = status;
        state.State.Detail = detail;
        state.State.ChangedUnixMs = time.GetUtcNow().ToUnixTimeMilliseconds();
        await state.WriteStateAsync();
    }

    public Task<GuestInfo> Get() => Task.FromResult(new GuestInfo(this.GetPrimaryKeyString(), state.State.Status, state.State.Detail, state.State.ChangedUnixMs));
}
