using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics.Metrics;
using System.Net;
using Horizon.Probes;

namespace Horizon.Timing;

/// <summary>
/// Verifies probes, rejects replays, pairs start and end per (guest, round) and computes durations on the monotonic
/// timeline. One instance timestamps both probes of a guest, so several controllers need no clock synchronisation.
/// </summary>
public sealed class TimingService : IDatagramSink, IDisposable
{
    public static readonly Meter Meter = new("Horizon.Timing");
    private static readonly Counter<long> ReceivedCounter = Meter.CreateCounter<long>("horizon.probes.received", "{probe}", "Datagrams received by the timing service");
    private static readonly Counter<long> RejectedCounter = Meter.CreateCounter<long>("horizon.probes.rejected", "{probe}", "Datagrams rejected, by reason");
    private static readonly Counter<long> DuplicateCounter = Meter.CreateCounter<long>("horizon.probes.duplicates", "{probe}", "Redundant probe copies dropped");

    private readonly ConcurrentDictionary<Guid, ExperimentTiming> experiments = new();
    /// <summary>Per experiment, the last block's timing after it ended: its key tells a late redundant copy from a forgery.</summary>
    private readonly ConcurrentDictionary<Guid, ExperimentTiming> retired = new();
    private readonly long[] rejected = new long[Enum.GetValues<ProbeRejection>().Length];
    private readonly ProbeListener listener;
    private long datagrams;
    private long accepted;
    private long duplicates;

    public TimingService(IPEndPoint bindTo, IClockSource? clock = null, bool forceManagedTimestamps = false, string? networkNamespace = null)
    {
        Clock = clock ?? SystemClockSource.Instance;
        listener = new ProbeListener(bindTo, this, Clock, forceManagedTimestamps, networkNamespace: networkNamespace);
    }

    public IClockSource Clock { get; }

    public IPEndPoint LocalEndPoint => listener.LocalEndPoint;

    public TimestampSource TimestampSource => listener.Source;

    public string TimestampDescription => listener.Source == TimestampSource.Kernel
        ? "kernel receive timestamps (SO_TIMESTAMPNS)" + (listener.NetworkNamespace is { } ns ? $" in network namespace {ns}" : "")
        : $"managed timestamps after receive ({listener.FallbackReason})";

    /// <summary>Test and benchmark hook: sees every accepted probe with its arrival time, on the receive thread.</summary>
    public Action<ProbeHeader, long>? AcceptedProbeObserver { get; set; }

    public ProbeCounters Counters => new(
        Interlocked.Read(ref datagrams),
        Interlocked.Read(ref accepted),
        Interlocked.Read(ref duplicates),
        Enum.GetValues<ProbeRejection>().ToImmutableDictionary(r => r, r => Interlocked.Read(ref rejected[(int)r])));

    /// <summary>Starts accepting probes for an experiment's guests and rounds [firstRound, endRound).</summary>
    /// <remarks>With <c>sampleHostCpu</c>, this machine's /proc/stat is read as each round's start and end probe are taken in:
    /// set when the guests' host is the machine the timing service runs on (the host's side of what a round cost).</remarks>
    public ExperimentTiming Register(Guid experiment, byte[] key, int guests, int firstRound, int endRound, TimeSpan roundTimeout, TimeSpan? missingProbeGrace = null, bool sampleHostCpu = false)
    {
        var timing = new ExperimentTiming(this, experiment, key, guests, firstRound, endRound, roundTimeout, missingProbeGrace ?? TimeSpan.FromSeconds(2)) { SampleHostCpu = sampleHostCpu };
        if (!experiments.TryAdd(experiment, timing))
        {
            throw new InvalidOperationException($"experiment {experiment} is already registered");
        }

        return timing;
    }

    internal void Unregister(ExperimentTiming timing)
    {
        if (experiments.TryRemove(timing.Experiment, out _))
        {
            retired[timing.Experiment] = timing;
        }
    }

    public void OnDatagram(ReadOnlySpan<byte> datagram, long arrivalMonotonicNs) => OnDatagram(datagram, arrivalMonotonicNs, default);

    public void OnDatagram(ReadOnlySpan<byte> datagram, long arrivalMonotonicNs, DatagramSource source)
    {
        ReceivedCounter.Add(1);
        Classify(datagram, arrivalMonotonicNs, source);

        // Counted last: once the datagram count includes this one, its classification is already counted too.
        Interlocked.Increment(ref datagrams);
    }

    private void Classify(ReadOnlySpan<byte> datagram, long arrivalMonotonicNs, DatagramSource source)
    {
        if (!ProbeFormat.TryReadHeader(datagram, out var header, out var rejection))
        {
            Reject(rejection);
            return;
        }

        if (!experiments.TryGetValue(header.Experiment, out var timing))
        {
            if (!LateCopy(datagram, header))
            {
                Reject(retired.ContainsKey(header.Experiment) ? ProbeRejection.ExperimentFinished : ProbeRejection.UnknownExperiment);
            }

            return;
        }

        if (!ProbeFormat.VerifyTag(datagram, timing.Key))
        {
            if (!LateCopy(datagram, header))
            {
                Reject(ProbeRejection.BadTag);
            }

            return;
        }

        var outcome = header.Phase == ProbePhase.Ready ? timing.Ready(header, source) : timing.Accept(header, arrivalMonotonicNs);
        switch (outcome)
        {
            case AcceptOutcome.AcceptedOutcome:
                Interlocked.Increment(ref accepted);
                AcceptedProbeObserver?.Invoke(header, arrivalMonotonicNs);
                break;
            case AcceptOutcome.DuplicateOutcome:
                Interlocked.Increment(ref duplicates);
                DuplicateCounter.Add(1);
                break;
            case AcceptOutcome.Rejected(var reason):
                Reject(reason);
                break;
        }
    }

    /// <summary>
    /// A redundant copy of a probe whose round the previous block already concluded, arriving after that block ended (the
    /// next block runs under a new key within milliseconds): authentic under the old key, so counted as a dropped
    /// duplicate — not as a rejection, which would say something was wrong.
    /// </summary>
    private bool LateCopy(ReadOnlySpan<byte> datagram, ProbeHeader header)
    {
        if (header.Phase == ProbePhase.Ready || !retired.TryGetValue(header.Experiment, out var old) || !ProbeFormat.VerifyTag(datagram, old.Key)
            || !old.IsConcluded(header.Guest, header.Round))
        {
            return false;
        }

        Interlocked.Increment(ref duplicates);
        DuplicateCounter.Add(1);
        return true;
    }

    public void OnTick(long nowMonotonicNs)
    {
        foreach (var timing in experiments.Values)
        {
            timing.Expire(nowMonotonicNs);
        }
    }

    private void Reject(ProbeRejection reason)
    {
        Interlocked.Increment(ref rejected[(int)reason]);
        RejectedCounter.Add(1, new KeyValuePair<string, object?>("reason", reason.ToString()));
    }

    internal bool Send(DatagramSource to, ReadOnlySpan<byte> payload) => listener.Send(to, payload);

    public void Dispose() => listener.Dispose();
}

internal abstract record AcceptOutcome
{
    public static readonly AcceptOutcome Accepted = new AcceptedOutcome();
    public static readonly AcceptOutcome Duplicate = new DuplicateOutcome();

    public sealed record AcceptedOutcome : AcceptOutcome;

    public sealed record DuplicateOutcome : AcceptOutcome;

    public sealed record Rejected(ProbeRejection Reason) : AcceptOutcome;
}
