using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Diagnostics;
using Horizon.Grains;
using Horizon.Results;

namespace Horizon.Scheduler;

/// <summary>
/// The scheduler's instruments (meter <c>Horizon.Scheduler</c>). Labels stay bounded: guests, platforms, workloads and
/// experiment keys of the testbeds and campaigns being run — never round numbers or probe ids. Finished experiments
/// keep their last values until more than <see cref="KeptExperiments"/> have run, so a dashboard still shows them.
/// </summary>
public static class SchedulerMetrics
{
    public const string MeterName = "Horizon.Scheduler";
    public const int KeptExperiments = 64;

    public static readonly Meter Meter = new(MeterName);

    /// <summary>
    /// Bucket bounds of round durations in seconds: 1 ms to 2 hours, six to a decade (1, 1.5, 2, 3, 5, 7), so a quantile
    /// read from the buckets is within about 50% of the true value anywhere in that range. Without them the SDK's default
    /// bounds (0, 5, 10, 25 … 10000, made for milliseconds) put every round under 5 s in one bucket.
    /// </summary>
    public static readonly IReadOnlyList<double> RoundDurationBuckets = Decades(0.001, 7200);

    /// <summary>Bucket bounds of network throughput in Mbit/s: 0.1 Mbit/s to 400 Gbit/s, six to a decade.</summary>
    public static readonly IReadOnlyList<double> ThroughputBuckets = Decades(0.1, 400_000);

    private static readonly Histogram<double> RoundDuration = Meter.CreateHistogram<double>(
        "horizon.round.duration", "s", "Round durations measured from probe arrivals, per guest",
        tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = RoundDurationBuckets });

    private static readonly Counter<long> Rounds = Meter.CreateCounter<long>("horizon.rounds.recorded", "{round}", "Rounds recorded, by outcome");

    private static readonly Histogram<double> IperfThroughput = Meter.CreateHistogram<double>(
        "horizon.iperf.throughput", "Mbit/s", "Throughput of network rounds (iperf-udp, forward), per guest",
        tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = ThroughputBuckets });

    private static readonly ConcurrentDictionary<Guid, ExperimentGauge> Experiments = new();
    private static readonly ConcurrentDictionary<(string Testbed, string Guest), (string Host, string Platform, GuestStatus Status, string Agent)> Guests = new();
    private static readonly ConcurrentDictionary<(string Guest, string Platform, string Side), (double Steal, double Iowait)> LastRoundCpu = new();
    private static long experimentSequence;

    static SchedulerMetrics()
    {
        Meter.CreateObservableGauge("horizon.experiment.rounds.remaining", () => Experiments.Values.Select(e =>
            new Measurement<long>(e.Remaining, e.Tags)), "{round}", "Rounds an experiment may still run (its maximum minus those recorded; 0 once finished)");
        Meter.CreateObservableGauge("horizon.experiment.mean", () => Experiments.Values.Where(e => e.Mean is not null).Select(e =>
            new Measurement<double>(e.Mean!.Value, e.Tags)), null, "Mean of the experiment's primary metric so far (seconds for durations)");
        Meter.CreateObservableGauge("horizon.experiment.ci.halfwidth", () => Experiments.Values.Where(e => e.HalfWidth is not null).Select(e =>
            new Measurement<double>(e.HalfWidth!.Value, e.Tags)), null, "Half-width of the 95% confidence interval of that mean");
        Meter.CreateObservableGauge("horizon.experiment.fairness", () => Experiments.Values.Where(e => e.Fairness is not null).Select(e =>
            new Measurement<double>(e.Fairness!.Value, e.Tags)), "{index}", "Jain's fairness index over the guests' mean values (1 = equal shares)");
        Meter.CreateObservableGauge("horizon.agent.experiments", () => new Measurement<int>(Volatile.Read(ref runningExperiments), new TagList { { "agent", Agent } }),
            "{experiment}", "Experiments this agent is running now (its share of the campaigns it claimed)");
        Meter.CreateObservableGauge("horizon.guest.state", ObserveGuests, "{state}", "1 for the state each guest is in, 0 for the others");
        Meter.CreateObservableGauge("horizon.round.cpu.steal.percent", () => LastRoundCpu.Select(kv => new Measurement<double>(kv.Value.Steal, CpuTags(kv.Key))),
            null, "Steal time of the last round, % of the guest's (side=guest) or the host's (side=host) CPU time, from /proc/stat just outside the probes");
        Meter.CreateObservableGauge("horizon.round.cpu.iowait.percent", () => LastRoundCpu.Select(kv => new Measurement<double>(kv.Value.Iowait, CpuTags(kv.Key))),
            null, "I/O wait of the last round, % of the CPU time, from /proc/stat just outside the probes");
    }

    private static TagList CpuTags((string Guest, string Platform, string Side) key) =>
        new() { { "guest", key.Guest }, { "platform", key.Platform }, { "side", key.Side } };

    private static double[] Decades(double from, double to)
    {
        double[] steps = [1, 1.5, 2, 3, 5, 7];
        var bounds = new List<double>();
        for (var decade = from; decade <= to; decade *= 10)
        {
            bounds.AddRange(steps.Select(s => Math.Round(decade * s, 6)).Where(b => b <= to));
        }

        return [.. bounds];
    }

    public static void ExperimentStarted(ExperimentDefinition d, ExperimentSnapshot snapshot)
    {
        var gauge = Experiments.GetOrAdd(d.Id, _ => new ExperimentGauge(d, Interlocked.Increment(ref experimentSequence)));
        gauge.Update(snapshot);
        if (Experiments.Count > KeptExperiments)
        {
            foreach (var old in Experiments.Values.Where(e => e.Finished).OrderBy(e => e.Sequence).Take(Experiments.Count - KeptExperiments))
            {
                Experiments.TryRemove(old.Id, out _);
            }
        }
    }

    public static void RoundRecorded(ExperimentDefinition d, RoundRecord r, ExperimentSnapshot snapshot, string platform)
    {
        var tags = new TagList { { "workload", d.Workload }, { "platform", platform }, { "outcome", r.Warmup ? "warmup" : r.Outcome.ToString().ToLowerInvariant() }, { "agent", Agent } };
        Rounds.Add(1, tags);
        if (r.Warmup)
        {
            // Counted as run, kept out of every distribution and the experiment's gauges (as out of its statistics).
            return;
        }

        if (r.Outcome == RoundOutcome.Measured && r.Seconds is { } seconds)
        {
            RoundDuration.Record(seconds, new TagList { { "guest", r.Guest }, { "platform", platform }, { "workload", d.Workload }, { "scheme", d.Scheme } });
        }

        foreach (var side in new[] { "guest", "host" })
        {
            if (r.Metrics is { } cpu && cpu.TryGetValue($"{side}_cpu_steal_pct", out var steal))
            {
                LastRoundCpu[(r.Guest, platform, side)] = (steal, cpu.GetValueOrDefault($"{side}_cpu_iowait_pct"));
            }
        }

        if (r.Outcome == RoundOutcome.Measured && r.Metrics is { } m && m.TryGetValue("throughput_mbps", out var mbps))
        {
            IperfThroughput.Record(mbps, new TagList { { "guest", r.Guest }, { "platform", platform }, { "workload", d.Workload } });
        }

        if (Experiments.TryGetValue(d.Id, out var gauge))
        {
            gauge.Record(r);
            gauge.Update(snapshot);
        }
    }

    public static void ExperimentFinished(ExperimentDefinition d, ExperimentSnapshot snapshot)
    {
        if (Experiments.TryGetValue(d.Id, out var gauge))
        {
            gauge.Update(snapshot);
            gauge.Finished = true;
        }
    }

    public static void GuestState(string testbed, string guest, string host, string platform, GuestStatus status, string agent) =>
        Guests[(testbed, guest)] = (host, platform, status, agent);

    /// <summary>This process's agent (one per scheduler service; "embedded" in the embedded controller): a label of the rounds counter.</summary>
    public static string Agent { get; set; } = AgentIdentity.Embedded.Id;

    private static int runningExperiments;

    /// <summary>Counts experiments this process starts (+n) or ends (-n) running: the agent panels' "busy".</summary>
    public static void AgentRunning(int delta) => Interlocked.Add(ref runningExperiments, delta);

    private static IEnumerable<Measurement<int>> ObserveGuests()
    {
        foreach (var ((testbed, guest), (host, platform, status, agent)) in Guests)
        {
            foreach (var s in Enum.GetValues<GuestStatus>())
            {
                yield return new Measurement<int>(s == status ? 1 : 0, new TagList
                {
                    { "testbed", testbed }, { "host", host }, { "guest", guest }, { "platform", platform }, { "state", s.ToString().ToLowerInvariant() }, { "agent", agent },
                });
            }
        }
    }

    /// <summary>Jain's index (Σx)² / (n·Σx²) over positive values; null below two values.</summary>
    public static double? Jain(IReadOnlyCollection<double> values)
    {
        if (values.Count < 2)
        {
            return null;
        }

        var sum = values.Sum();
        var squares = values.Sum(v => v * v);
        return squares > 0 ? sum * sum / (values.Count * squares) : null;
    }

    private sealed class ExperimentGauge(ExperimentDefinition d, long sequence)
    {
        private readonly ConcurrentDictionary<int, (double Sum, int Count)> perGuest = new();

        public Guid Id => d.Id;

        public long Sequence => sequence;

        public bool Finished { get; set; }

        public KeyValuePair<string, object?>[] Tags { get; } =
        [
            new("campaign", d.Campaign), new("experiment", d.Key), new("workload", d.Workload), new("scheme", d.Scheme),
            new("metric", d.Metric), new("platform", string.Join("+", d.Platforms.Distinct())),
        ];

        public long Remaining { get; private set; }

        public double? Mean { get; private set; }

        public double? HalfWidth { get; private set; }

        public double? Fairness { get; private set; }

        public void Record(RoundRecord r)
        {
            var value = d.Metric == "duration" ? r.Seconds : r.Metrics is { } m && m.TryGetValue(d.Metric, out var v) ? v : null;
            if (r.Outcome == RoundOutcome.Measured && value is { } x)
            {
                perGuest.AddOrUpdate(r.GuestIndex, (x, 1), (_, a) => (a.Sum + x, a.Count + 1));
                Fairness = Jain([.. perGuest.Values.Select(a => a.Sum / a.Count)]);
            }
        }

        public void Update(ExperimentSnapshot s)
        {
            Remaining = s.Status is ExperimentStatus.Completed or ExperimentStatus.Failed
                ? 0
                : Math.Max(0, (long)d.MaxRounds * d.Guests.Length - s.Measured - s.Failed);
            Mean = s.Mean;
            HalfWidth = s.HalfWidth;
        }
    }
}
