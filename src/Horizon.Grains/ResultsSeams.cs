using System.Collections.Immutable;

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
