using System.Collections.Immutable;
using Horizon.Analysers;
using Horizon.Statistics;

namespace Horizon.Results;

/// <summary>One recorded round, as read back from the results store.</summary>
public sealed record RoundResult(
    int GuestIndex,
    string Guest,
    int Round,
    bool Measured,
    double? Seconds,
    double? GuestSeconds,
    double? GuestStartEpoch,
    int? ExitCode,
    string? Reason,
    long RecordedUnixMs,
    ImmutableDictionary<string, double>? Metrics = null)
{
    /// <summary>Metric every timed round carries: its start probe's arrival, seconds on the controller's monotonic clock.</summary>
    public const string StartMetric = "start_s";

    /// <summary>The round's value for a metric: its duration, or a metric the workload reported.</summary>
    public double? Value(Workloads.Metric metric) => RoundValue.Of(metric.Name, Seconds, Metrics);
}

/// <summary>An experiment with all its rounds and the environment it ran in.</summary>
public sealed record ExperimentResult(
    Guid Id,
    string Campaign,
    string Key,
    string Workload,
    ImmutableSortedDictionary<string, string> Parameters,
    ImmutableArray<string> Guests,
    ImmutableArray<string> Platforms,
    string Scheme,
    string Status,
    string? StopReason,
    string? Note,
    string EnvironmentJson,
    int Order,
    long CreatedUnixMs,
    long? FinishedUnixMs,
    ImmutableArray<RoundResult> Rounds)
{
    public string Platform => Platforms.Distinct().Count() == 1 ? Platforms[0] : string.Join("+", Platforms.Distinct());

    public string GuestLabel => string.Join(",", Guests);

    /// <summary>What the statistics are about: the round duration, or the workload's own metric (e.g. throughput).</summary>
    public Workloads.Metric Metric => Workloads.WorkloadCatalog.Find(Workload)?.PrimaryMetric ?? Workloads.Metric.Duration;

    /// <summary>Measured values of <see cref="Metric"/> in the order they were recorded (all guests of the experiment).</summary>
    public ImmutableArray<double> MeasuredSeconds =>
        [.. Rounds.Where(r => r.Measured && r.Value(Metric) is not null).OrderBy(r => r.RecordedUnixMs).ThenBy(r => r.Round).Select(r => r.Value(Metric)!.Value)];

    public int FailedCount => Rounds.Count(r => !r.Measured);

    public SampleStatistics? Statistics => MeasuredSeconds is { Length: > 0 } v ? new SampleStatistics(v) : null;

    public SampleStatistics? GuestStatistics(int guestIndex)
    {
        var values = Rounds.Where(r => r.GuestIndex == guestIndex && r.Measured && r.Value(Metric) is not null).OrderBy(r => r.Round).Select(r => r.Value(Metric)!.Value).ToList();
        return values.Count > 0 ? new SampleStatistics(values) : null;
    }

    public ImmutableArray<Conclusion> Conclusions(int minRounds = 5) => DefaultAnalysers.Analyse(new RoundSample(Statistics, FailedCount, minRounds));
}

/// <summary>
/// Which value of a round counts for its experiment: the duration the probes measured for "duration", otherwise the
/// named metric from the round's output. The one place that says so — statistics, stopping and reports all ask here.
/// </summary>
public static class RoundValue
{
    public static double? Of(string metric, double? seconds, IReadOnlyDictionary<string, double>? metrics) =>
        metric == Workloads.Metric.Duration.Name ? seconds : metrics is not null && metrics.TryGetValue(metric, out var v) ? v : null;
}
