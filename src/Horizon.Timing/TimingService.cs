using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics.Metrics;
using System.Net;
using System.Threading.Channels;
using Horizon.Probes;
using Horizon.Results;

namespace Horizon.Timing;

/// <summary>What the timing service concluded about one round of one guest.</summary>
public sealed record RoundTiming(
    Guid Experiment,
    uint Guest,
    uint Round,
    RoundOutcome Status,
    long? StartArrivalNs,
    long? EndArrivalNs,
    string? Reason)
{
    public double? Seconds => StartArrivalNs is { } s && EndArrivalNs is { } e ? (e - s) / 1e9 : null;
}

/// <summary>Counts kept by the timing service; never per packet in logs.</summary>
public sealed record ProbeCounters(long Datagrams, long Accepted, long Duplicates, ImmutableDictionary<ProbeRejection, long> Rejected)
{
    public long RejectedTotal => Rejected.Values.Sum();
}

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
    private readonly ConcurrentDictionary<Guid, byte> finished = new();
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
    public ExperimentTiming Register(Guid experiment, byte[] key, int guests, int firstRound, int endRound, TimeSpan roundTimeout, TimeSpan? missingProbeGrace = null)
    {
        var timing = new ExperimentTiming(this, experiment, key, guests, firstRound, endRound, roundTimeout, missingProbeGrace ?? TimeSpan.FromSeconds(2));
        if (!experiments.TryAdd(experiment, timing))
        {
            throw new InvalidOperationException($"experiment {experiment} is already registered");
        }

        finished.TryRemove(experiment, out _);
        return timing;
    }

    internal void Unregister(ExperimentTiming timing)
    {
        if (experiments.TryRemove(timing.Experiment, out _))
        {
            finished[timing.Experiment] = 0;
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
            Reject(finished.ContainsKey(header.Experiment) ? ProbeRejection.ExperimentFinished : ProbeRejection.UnknownExperiment);
            return;
        }

        if (!ProbeFormat.VerifyTag(datagram, timing.Key))
        {
            Reject(ProbeRejection.BadTag);
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

/// <summary>The timing state of one registered experiment; results arrive on <see cref="Results"/>.</summary>
public sealed class ExperimentTiming : IDisposable
{
    private readonly TimingService service;
    private readonly object gate = new();
    private readonly Dictionary<(uint Guest, uint Round), RoundState> rounds = [];
    private readonly Channel<RoundTiming> results = Channel.CreateUnbounded<RoundTiming>(new UnboundedChannelOptions { SingleReader = false, SingleWriter = false });
    private readonly long timeoutNs;
    private readonly long graceNs;

    internal ExperimentTiming(TimingService service, Guid experiment, byte[] key, int guests, int firstRound, int endRound, TimeSpan roundTimeout, TimeSpan grace)
    {
        this.service = service;
        Experiment = experiment;
        Key = key;
        Guests = guests;
        FirstRound = firstRound;
        EndRound = endRound;
        timeoutNs = (long)roundTimeout.TotalMilliseconds * 1_000_000;
        graceNs = (long)grace.TotalMilliseconds * 1_000_000;
    }

    public Guid Experiment { get; }

    internal byte[] Key { get; }

    public int Guests { get; }

    public int FirstRound { get; }

    public int EndRound { get; }

    public ChannelReader<RoundTiming> Results => results.Reader;

    /// <summary>The guest says it finished this round: probes still missing after a short grace fail the round.</summary>
    public void GuestReported(uint guest, uint round)
    {
        var now = service.Clock.MonotonicNs();
        lock (gate)
        {
            var state = Get(guest, round);
            if (!state.Final)
            {
                state.ReportDeadline = now + graceNs;
            }
        }
    }

    /// <summary>The guest will not send this round (script died, stopped): fail it now unless already concluded.</summary>
    public void Abandon(uint guest, uint round, string reason)
    {
        lock (gate)
        {
            var state = Get(guest, round);
            if (!state.Final)
            {
                Finish(guest, round, state, RoundOutcome.Failed, reason);
            }
        }
    }

    public bool IsConcluded(uint guest, uint round)
    {
        lock (gate)
        {
            return rounds.TryGetValue((guest, round), out var s) && s.Final;
        }
    }

    private readonly Dictionary<uint, DatagramSource> readyAt = [];

    /// <summary>A guest waits at the start barrier: remember where its probe socket is (first authentic ready probe wins).</summary>
    internal AcceptOutcome Ready(ProbeHeader header, DatagramSource source)
    {
        if (header.Guest >= Guests)
        {
            return new AcceptOutcome.Rejected(ProbeRejection.UnknownGuest);
        }

        if (header.Round != FirstRound || source.PortBigEndian == 0)
        {
            return new AcceptOutcome.Rejected(ProbeRejection.RoundOutOfRange);
        }

        lock (gate)
        {
            return readyAt.TryAdd(header.Guest, source) ? AcceptOutcome.Accepted : AcceptOutcome.Duplicate;
        }
    }

    /// <summary>True once the start probe of (guest, round) arrived.</summary>
    public bool HasStarted(uint guest, uint round)
    {
        lock (gate)
        {
            return rounds.TryGetValue((guest, round), out var s) && s.Start is not null;
        }
    }

    /// <summary>Guests whose ready probe arrived (they can be released by datagram).</summary>
    public IReadOnlyCollection<uint> ReadyGuests
    {
        get
        {
            lock (gate)
            {
                return [.. readyAt.Keys];
            }
        }
    }

    /// <summary>
    /// Releases the start barrier: one datagram ("go") to every ready guest's probe socket, sent back to back from the
    /// timing socket, repeated <paramref name="copies"/> times against loss. Returns the guests it was sent to.
    /// </summary>
    public IReadOnlyCollection<uint> Release(int copies = 3)
    {
        KeyValuePair<uint, DatagramSource>[] targets;
        lock (gate)
        {
            targets = [.. readyAt];
        }

        var sent = new HashSet<uint>();
        ReadOnlySpan<byte> go = "go\n"u8;
        for (var c = 0; c < copies; c++)
        {
            foreach (var (guest, to) in targets)
            {
                if (service.Send(to, go))
                {
                    sent.Add(guest);
                }
            }
        }

        return sent;
    }

    internal AcceptOutcome Accept(ProbeHeader header, long arrival)
    {
        if (header.Guest >= Guests)
        {
            return new AcceptOutcome.Rejected(ProbeRejection.UnknownGuest);
        }

        if (header.Round < FirstRound || header.Round >= EndRound)
        {
            return new AcceptOutcome.Rejected(ProbeRejection.RoundOutOfRange);
        }

        lock (gate)
        {
            var state = Get(header.Guest, header.Round);
            var bit = 1u << (header.Copy & 31);
            if (header.Phase == ProbePhase.Start)
            {
                if ((state.StartCopies & bit) != 0)
                {
                    return new AcceptOutcome.Rejected(ProbeRejection.Replay);
                }

                state.StartCopies |= bit;
                if (state.Start is not null)
                {
                    return AcceptOutcome.Duplicate;
                }

                if (state.Final)
                {
                    return new AcceptOutcome.Rejected(ProbeRejection.Late);
                }

                state.Start = arrival;
                return AcceptOutcome.Accepted;
            }

            if ((state.EndCopies & bit) != 0)
            {
                return new AcceptOutcome.Rejected(ProbeRejection.Replay);
            }

            state.EndCopies |= bit;
            if (state.End is not null)
            {
                return AcceptOutcome.Duplicate;
            }

            if (state.Final)
            {
                return new AcceptOutcome.Rejected(ProbeRejection.Late);
            }

            state.End = arrival;
            if (state.Start is null)
            {
                Finish(header.Guest, header.Round, state, RoundOutcome.Failed, "start probe lost (end probe arrived without it)");
            }
            else if (arrival < state.Start)
            {
                Finish(header.Guest, header.Round, state, RoundOutcome.Failed, "end probe arrived before the start probe");
            }
            else
            {
                Finish(header.Guest, header.Round, state, RoundOutcome.Measured, null);
            }

            return AcceptOutcome.Accepted;
        }
    }

    internal void Expire(long now)
    {
        lock (gate)
        {
            foreach (var ((guest, round), state) in rounds)
            {
                if (state.Final)
                {
                    continue;
                }

                if (state.Start is { } start && now - start > timeoutNs)
                {
                    Finish(guest, round, state, RoundOutcome.Failed, $"end probe not received within the round timeout ({timeoutNs / 1e9:0.###} s)");
                }
                else if (state.ReportDeadline is { } deadline && now > deadline)
                {
                    var reason = state.Start is null ? "start and end probes lost (the guest reported the round)" : "end probe lost (the guest reported the round)";
                    Finish(guest, round, state, RoundOutcome.Failed, reason);
                }
            }
        }
    }

    private RoundState Get(uint guest, uint round)
    {
        if (!rounds.TryGetValue((guest, round), out var state))
        {
            state = new RoundState();
            rounds[(guest, round)] = state;
        }

        return state;
    }

    private void Finish(uint guest, uint round, RoundState state, RoundOutcome status, string? reason)
    {
        state.Final = true;
        var timing = new RoundTiming(Experiment, guest, round, status, state.Start, state.End, reason);
        results.Writer.TryWrite(timing);
    }

    public void Dispose()
    {
        service.Unregister(this);
        results.Writer.TryComplete();
    }

    private sealed class RoundState
    {
        public long? Start;
        public long? End;
        public uint StartCopies;
        public uint EndCopies;
        public bool Final;
        public long? ReportDeadline;
    }
}
