using System.Collections.Immutable;
using Horizon.Results;
using Horizon.Statistics;

namespace Horizon.Grains;

[GenerateSerializer, Alias("horizon.experiment-state")]
public sealed class ExperimentState
{
    [Id(0)] public ExperimentDefinition? Definition { get; set; }

    [Id(1)] public ExperimentStatus Status { get; set; }

    [Id(2)] public int NextRound { get; set; }

    /// <summary>Measured seconds per guest index, in round order.</summary>
    [Id(3)] public Dictionary<int, List<double>> Measured { get; set; } = [];

    [Id(4)] public int Failed { get; set; }

    /// <summary>Rounds recorded by stores written before round keys were typed ("guest:round"); moved to <see cref="Rounds"/> on activation.</summary>
    [Id(5)] public HashSet<string> LegacyRecorded { get; set; } = [];

    [Id(6)] public string? StopReason { get; set; }

    [Id(7)] public string? Note { get; set; }

    [Id(8)] public long CreatedUnixMs { get; set; }

    [Id(9)] public long? FinishedUnixMs { get; set; }

    /// <summary>Every round recorded (measured or failed), by guest and round index.</summary>
    [Id(10)] public HashSet<RoundKey> Rounds { get; set; } = [];
}

public sealed class ExperimentGrain(
    [PersistentState("experiment", HorizonGrainStorage.Name)] IPersistentState<ExperimentState> state,
    IResultsSink sink,
    TimeProvider time) : Grain, IExperimentGrain
{
    private Dictionary<int, int>? attempted;

    private ExperimentState S => state.State;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var legacy in S.LegacyRecorded)
        {
            S.Rounds.Add(RoundKey.Parse(legacy));
        }

        S.LegacyRecorded.Clear();
        return Task.CompletedTask;
    }

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
            // Round indexes below the warm-up count were run as warm-up: a resumed run keeps the count they ran with.
            S.Definition = definition with { Id = S.Definition.Id, Warmup = S.NextRound > 0 ? S.Definition.Warmup : definition.Warmup };
            if (S.Status is ExperimentStatus.Running)
            {
                for (var g = 0; g < S.Definition.Guests.Length; g++)
                {
                    for (var r = 0; r < S.NextRound; r++)
                    {
                        if (!S.Rounds.Contains(new RoundKey(g, r)))
                        {
                            await RecordCore(new RoundRecord(S.Definition.Id, g, S.Definition.Guests[g], r, RoundOutcome.Failed, null, null, null, null,
                                "interrupted: the controller stopped before this round was recorded", time.GetUtcNow().ToUnixTimeMilliseconds(),
                                Warmup: r < S.Definition.Warmup));
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
        if (fromRound < S.NextRound && !S.Rounds.Any(k => k.Round >= fromRound))
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
        var fresh = rounds.DistinctBy(RoundKey.Of).Where(r => !S.Rounds.Contains(RoundKey.Of(r))).ToList();

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
        if (S.Rounds.Contains(RoundKey.Of(round)))
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
        var counts = Attempted();
        S.Rounds.Add(RoundKey.Of(round));
        if (round.Round < S.Definition!.Warmup)
        {
            // Warm-up rounds are kept in the store; they count towards nothing (not measured, not failed, not attempted).
            return;
        }

        counts[round.GuestIndex] = counts.GetValueOrDefault(round.GuestIndex) + 1;
        var value = Results.RoundValue.Of(S.Definition!.Metric, round.Seconds, round.Metrics);
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
            foreach (var k in S.Rounds.Where(k => k.Round >= S.Definition!.Warmup))
            {
                attempted[k.Guest] = attempted.GetValueOrDefault(k.Guest) + 1;
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
            stats is { N: > 1 } ? stats.Interval.HalfWidth : null, S.NextRound, S.StopReason, S.Definition?.Warmup ?? 0);
    }

    private void Require()
    {
        if (S.Definition is null)
        {
            throw new InvalidOperationException($"experiment {this.GetPrimaryKey()} was never defined");
        }
    }
}
