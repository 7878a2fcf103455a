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
    ImmutableDictionary<string, double>? Metrics = null,
    bool Warmup = false)
{
    /// <summary>A measured round that counts: measured and not a warm-up round.</summary>
    public bool Counts => Measured && !Warmup;

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
    public ImmutableArray<double> MeasuredSeconds => [.. CountedInOrder.Select(r => r.Value(Metric)!.Value)];

    /// <summary>How the warnings name the rounds of <see cref="MeasuredSeconds"/>: "#round" as in the exports, "guest#round" with several guests.</summary>
    public ImmutableArray<string> MeasuredLabels => [.. CountedInOrder.Select(r => Guests.Length > 1 ? $"{r.Guest}#{r.Round}" : $"#{r.Round}")];

    private IEnumerable<RoundResult> CountedInOrder => Rounds.Where(r => r.Counts && r.Value(Metric) is not null).OrderBy(r => r.RecordedUnixMs).ThenBy(r => r.Round);

    /// <summary>Failed rounds, warm-up rounds left out (they are stored and exported, never counted).</summary>
    public int FailedCount => Rounds.Count(r => !r.Measured && !r.Warmup);

    /// <summary>The rounds that count: everything but the warm-up rounds.</summary>
    public IEnumerable<RoundResult> CountedRounds => Rounds.Where(r => !r.Warmup);

    public SampleStatistics? Statistics => MeasuredSeconds is { Length: > 0 } v ? new SampleStatistics(v) : null;

    public SampleStatistics? GuestStatistics(int guestIndex)
    {
        var values = Rounds.Where(r => r.GuestIndex == guestIndex && r.Counts && r.Value(Metric) is not null).OrderBy(r => r.Round).Select(r => r.Value(Metric)!.Value).ToList();
        return values.Count > 0 ? new SampleStatistics(values) : null;
    }

    /// <summary>The mean of a per-round metric (e.g. <c>guest_cpu_steal_pct</c>) over the rounds that count; null where none has it.</summary>
    public double? MetricMean(string name)
    {
        var values = CountedRounds.Where(r => r.Measured && r.Metrics is not null && r.Metrics.ContainsKey(name)).Select(r => r.Metrics![name]).ToList();
        return values.Count > 0 ? values.Average() : null;
    }

    /// <summary>The guest's CPU accounting over its rounds (mean shares in %), read from /proc/stat just outside the probes.</summary>
    public CpuShares? GuestCpu => CpuShares.Of(this, "guest_cpu");

    /// <summary>The host's, where the host was the machine that took the probes in.</summary>
    public CpuShares? HostCpu => CpuShares.Of(this, "host_cpu");

    public ImmutableArray<Conclusion> Conclusions(int minRounds = 5) => DefaultAnalysers.Analyse(new RoundSample(Statistics, FailedCount, minRounds, MeasuredLabels));
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

/// <summary>Mean shares of CPU time over an experiment's rounds, in % of all the CPUs' time (user, system, iowait, steal, idle).</summary>
public sealed record CpuShares(double User, double System, double Iowait, double Steal, double Idle)
{
    public static CpuShares? Of(ExperimentResult e, string prefix) =>
        e.MetricMean($"{prefix}_user_pct") is { } user
            ? new CpuShares(user, e.MetricMean($"{prefix}_system_pct") ?? 0, e.MetricMean($"{prefix}_iowait_pct") ?? 0, e.MetricMean($"{prefix}_steal_pct") ?? 0, e.MetricMean($"{prefix}_idle_pct") ?? 0)
            : null;

    public override string ToString() =>
        string.Create(global::System.Globalization.CultureInfo.InvariantCulture, $"usr {User:0.#} sys {System:0.#} io {Iowait:0.#} steal {Steal:0.#} %");
}
