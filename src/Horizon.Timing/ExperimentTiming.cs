using System.Threading.Channels;
using Horizon.Probes;
using Horizon.Results;

namespace Horizon.Timing;

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

    internal bool SampleHostCpu { get; init; }

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
                state.HostBefore = SampleHostCpu ? CpuTimes.ReadLocal() : null;
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
            state.HostAfter = SampleHostCpu ? CpuTimes.ReadLocal() : null;
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
        var timing = new RoundTiming(Experiment, guest, round, status, state.Start, state.End, reason)
        {
            HostCpu = state.HostBefore is { } before && state.HostAfter is { } after ? (before, after) : null,
        };
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
        public CpuTimes? HostBefore;
        public CpuTimes? HostAfter;
    }
}
