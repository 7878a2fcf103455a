using System.Net.Sockets;
using System.Net;
using Horizon.Probes;
using Horizon.Results;

namespace Horizon.Timing.Tests;

/// <summary>Real UDP datagrams on loopback into a real timing service.</summary>
public sealed class TimingServiceTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly TimingService service = new(new IPEndPoint(IPAddress.Loopback, 0));
    private readonly Socket sender = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);

    public TimingServiceTests() => sender.Connect(service.LocalEndPoint);

    public void Dispose()
    {
        sender.Dispose();
        service.Dispose();
    }

    private void Send(byte[] datagram) => sender.Send(datagram);

    private static byte[] Probe(Guid experiment, byte[] key, ProbePhase phase, uint round, uint guest = 0, byte copy = 0) =>
        ProbeFormat.Encode(new ProbeHeader(phase, copy, experiment, guest, round), key);

    private async Task Settle(long datagrams)
    {
        var until = DateTime.UtcNow + Wait;
        while (service.Counters.Datagrams < datagrams && DateTime.UtcNow < until)
        {
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }

        Assert.Equal(datagrams, service.Counters.Datagrams);
    }

    [Fact]
    public void Linux_uses_kernel_receive_timestamps()
    {
        Assert.True(OperatingSystem.IsLinux());
        Assert.Equal(TimestampSource.Kernel, service.TimestampSource);
    }

    [Fact]
    public async Task A_round_is_timed_by_its_probes_arrival_and_copies_are_dropped()
    {
        var id = Guid.NewGuid();
        var key = ProbeFormat.NewKey();
        using var session = service.Register(id, key, 1, 0, 5, TimeSpan.FromMinutes(1));
        for (byte c = 0; c < 3; c++)
        {
            Send(Probe(id, key, ProbePhase.Start, 2, copy: c));
        }

        await Task.Delay(200, TestContext.Current.CancellationToken);
        for (byte c = 0; c < 3; c++)
        {
            Send(Probe(id, key, ProbePhase.End, 2, copy: c));
        }

        var round = await session.Results.ReadAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(Wait, TestContext.Current.CancellationToken);
        Assert.Equal(RoundOutcome.Measured, round.Status);
        Assert.Equal(2u, round.Round);
        Assert.InRange(round.Seconds!.Value, 0.19, 0.5);
        await Settle(6);
        Assert.Equal(2, service.Counters.Accepted);
        Assert.Equal(4, service.Counters.Duplicates);
        Assert.Equal(0, service.Counters.RejectedTotal);
    }

    [Fact]
    public async Task Forged_replayed_truncated_foreign_and_malformed_datagrams_are_rejected_and_counted()
    {
        var id = Guid.NewGuid();
        var key = ProbeFormat.NewKey();
        using var session = service.Register(id, key, 2, 0, 10, TimeSpan.FromMinutes(1));
        var start = Probe(id, key, ProbePhase.Start, 1);
        Send(start);
        Send(start);                                                        // replay of the same copy
        Send(Probe(id, ProbeFormat.NewKey(), ProbePhase.Start, 3));        // forged: wrong key
        Send(start[..20]);                                                  // truncated
        Send([.. start, 0]);                                                // oversized
        Send(Probe(Guid.NewGuid(), key, ProbePhase.Start, 1));             // foreign experiment
        Send(Probe(id, key, ProbePhase.Start, 1, guest: 7));               // unknown guest
        Send(Probe(id, key, ProbePhase.Start, 10));                        // round out of range
        var badVersion = (byte[])start.Clone();
        badVersion[4] = 9;
        Send(badVersion);
        var badMagic = (byte[])start.Clone();
        badMagic[0] = (byte)'X';
        Send(badMagic);
        var tampered = (byte[])start.Clone();
        tampered[30] ^= 1;                                                  // round index changed, tag kept
        Send(tampered);
        await Settle(11);
        var r = service.Counters.Rejected;
        Assert.Equal(1, service.Counters.Accepted);
        Assert.Equal(1, r[ProbeRejection.Replay]);
        Assert.Equal(2, r[ProbeRejection.BadTag]);
        Assert.Equal(1, r[ProbeRejection.Truncated]);
        Assert.Equal(1, r[ProbeRejection.Oversized]);
        Assert.Equal(1, r[ProbeRejection.UnknownExperiment]);
        Assert.Equal(1, r[ProbeRejection.UnknownGuest]);
        Assert.Equal(1, r[ProbeRejection.RoundOutOfRange]);
        Assert.Equal(1, r[ProbeRejection.BadVersion]);
        Assert.Equal(1, r[ProbeRejection.BadMagic]);
    }

    [Fact]
    public async Task A_ready_probe_records_the_guests_socket_and_the_release_datagram_reaches_it()
    {
        var ct = TestContext.Current.CancellationToken;
        var id = Guid.NewGuid();
        var key = ProbeFormat.NewKey();
        using var session = service.Register(id, key, 2, 4, 6, TimeSpan.FromMinutes(1));

        // Two guests' probe sockets, connected to the timing service as bash's /dev/udp is.
        using var g0 = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        using var g1 = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        g0.Connect(service.LocalEndPoint);
        g1.Connect(service.LocalEndPoint);
        g0.Send(Probe(id, key, ProbePhase.Ready, 4, guest: 0));
        g0.Send(Probe(id, key, ProbePhase.Ready, 4, guest: 0, copy: 1));
        g1.Send(Probe(id, key, ProbePhase.Ready, 5, guest: 1));                 // not the block's first round: refused
        g1.Send(Probe(id, ProbeFormat.NewKey(), ProbePhase.Ready, 4, guest: 1)); // forged: refused
        await Settle(4);
        Assert.Equal([0u], session.ReadyGuests);
        Assert.Equal(1, service.Counters.Duplicates);
        Assert.Equal(1, service.Counters.Rejected[ProbeRejection.RoundOutOfRange]);
        Assert.Equal(1, service.Counters.Rejected[ProbeRejection.BadTag]);

        Assert.Equal([0u], session.Release(copies: 2));
        var buffer = new byte[16];
        var n = await g0.ReceiveAsync(buffer, System.Net.Sockets.SocketFlags.None, ct).AsTask().WaitAsync(Wait, ct);
        Assert.Equal("go\n", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
        Assert.Equal(0, g1.Available);

        // Ready probes never become rounds.
        Assert.False(session.Results.TryRead(out _));
    }

    [Fact]
    public async Task Probes_for_a_finished_experiment_are_rejected_as_such()
    {
        var id = Guid.NewGuid();
        var key = ProbeFormat.NewKey();
        var session = service.Register(id, key, 1, 0, 2, TimeSpan.FromMinutes(1));
        session.Dispose();
        Send(Probe(id, key, ProbePhase.Start, 0));
        await Settle(1);
        Assert.Equal(1, service.Counters.Rejected[ProbeRejection.ExperimentFinished]);
    }

    [Fact]
    public async Task Late_copies_of_a_concluded_round_are_duplicates_even_after_the_next_block_registered()
    {
        var id = Guid.NewGuid();
        var key = ProbeFormat.NewKey();
        var session = service.Register(id, key, 1, 0, 2, TimeSpan.FromMinutes(1));
        Send(Probe(id, key, ProbePhase.Start, 0));
        Send(Probe(id, key, ProbePhase.End, 0));
        var round = await session.Results.ReadAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(Wait, TestContext.Current.CancellationToken);
        Assert.Equal(RoundOutcome.Measured, round.Status);
        session.Dispose();

        // Copy 2 of the end probe lands after the block ended, copy 3 after the next block registered under a new key.
        Send(Probe(id, key, ProbePhase.End, 0, copy: 1));
        await Settle(3);
        using var next = service.Register(id, ProbeFormat.NewKey(), 1, 1, 2, TimeSpan.FromMinutes(1));
        Send(Probe(id, key, ProbePhase.End, 0, copy: 2));
        await Settle(4);
        Assert.Equal(2, service.Counters.Duplicates);
        Assert.Equal(0, service.Counters.RejectedTotal);

        // Not a free pass: a round the old block never concluded, and a probe under a key nobody holds, stay rejected.
        Send(Probe(id, key, ProbePhase.Start, 1));
        Send(Probe(id, ProbeFormat.NewKey(), ProbePhase.End, 0, copy: 1));
        await Settle(6);
        Assert.Equal(2, service.Counters.Rejected[ProbeRejection.BadTag]);
    }

    [Fact]
    public async Task A_lost_end_probe_fails_the_round_after_the_round_timeout_instead_of_hanging()
    {
        var id = Guid.NewGuid();
        var key = ProbeFormat.NewKey();
        using var session = service.Register(id, key, 1, 0, 3, TimeSpan.FromMilliseconds(500));
        Send(Probe(id, key, ProbePhase.Start, 0));
        var round = await session.Results.ReadAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(Wait, TestContext.Current.CancellationToken);
        Assert.Equal(RoundOutcome.Failed, round.Status);
        Assert.Contains("end probe not received", round.Reason);
        Assert.NotNull(round.StartArrivalNs);
        Assert.Null(round.EndArrivalNs);
        // A late end probe is then rejected, never turned into a duration.
        Send(Probe(id, key, ProbePhase.End, 0));
        await Settle(2);
        Assert.Equal(1, service.Counters.Rejected[ProbeRejection.Late]);
    }

    [Fact]
    public async Task A_round_the_guest_reported_fails_after_a_short_grace_when_its_end_probe_is_lost()
    {
        var id = Guid.NewGuid();
        var key = ProbeFormat.NewKey();
        using var session = service.Register(id, key, 1, 0, 3, TimeSpan.FromMinutes(10), TimeSpan.FromMilliseconds(300));
        Send(Probe(id, key, ProbePhase.Start, 1));
        await Settle(1);
        session.GuestReported(0, 1);
        var round = await session.Results.ReadAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(Wait, TestContext.Current.CancellationToken);
        Assert.Equal(RoundOutcome.Failed, round.Status);
        Assert.Contains("end probe lost", round.Reason);
    }

    [Fact]
    public async Task An_end_probe_without_its_start_fails_the_round()
    {
        var id = Guid.NewGuid();
        var key = ProbeFormat.NewKey();
        using var session = service.Register(id, key, 1, 0, 3, TimeSpan.FromMinutes(1));
        Send(Probe(id, key, ProbePhase.End, 1));
        var round = await session.Results.ReadAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(Wait, TestContext.Current.CancellationToken);
        Assert.Equal(RoundOutcome.Failed, round.Status);
        Assert.Contains("start probe lost", round.Reason);
    }

    [Fact]
    public async Task Kernel_stamps_agree_with_the_monotonic_clock_of_the_sender()
    {
        var id = Guid.NewGuid();
        var key = ProbeFormat.NewKey();
        using var session = service.Register(id, key, 1, 0, 200, TimeSpan.FromMinutes(1));
        var arrivals = new long[200];
        service.AcceptedProbeObserver = (h, t) => arrivals[h.Round] = t;
        var sent = new long[200];
        for (var i = 0; i < 200; i++)
        {
            var p = Probe(id, key, ProbePhase.Start, (uint)i);
            sent[i] = service.Clock.MonotonicNs();
            Send(p);
            await Task.Delay(1, TestContext.Current.CancellationToken);
        }

        await Settle(200);
        var delays = Enumerable.Range(0, 200).Select(i => arrivals[i] - sent[i]).Order().ToList();
        // On loopback the kernel stamps a datagram within microseconds of the send call; an arrival may appear to precede
        // its send only by the error of the REALTIME−MONOTONIC offset read (well under 10 µs).
        Assert.True(delays[0] > -10_000, $"an arrival preceded its send by {-delays[0]} ns");
        Assert.InRange(delays[100], 1, 5_000_000);
    }
}

public sealed class ArrivalClockTests
{
    /// <summary>A clock whose wall time can be stepped; its monotonic time only moves forward.</summary>
    private sealed class SteppableClock : IClockSource
    {
        public long Monotonic { get; set; } = 1_000_000_000;

        public long WallOffset { get; set; } = 1_700_000_000_000_000_000;

        public long MonotonicNs() => Monotonic;

        public long RealtimeNs() => Monotonic + WallOffset;
    }

    [Fact]
    public void A_wall_clock_step_between_start_and_end_does_not_change_the_duration()
    {
        var clock = new SteppableClock();
        var arrival = new ArrivalClock(clock);
        // Start probe: the kernel stamps it on the wall clock, 20 µs before it is dequeued.
        clock.Monotonic = 5_000_000_000;
        var startStamp = clock.RealtimeNs() - 20_000;
        var start = ArrivalClock.ToMonotonic(startStamp, arrival.CurrentOffsetNs());
        // NTP steps the wall clock back an hour; 2.5 s later the end probe arrives.
        clock.WallOffset -= 3_600_000_000_000;
        clock.Monotonic += 2_500_000_000;
        var endStamp = clock.RealtimeNs() - 20_000;
        var end = ArrivalClock.ToMonotonic(endStamp, arrival.CurrentOffsetNs());
        Assert.Equal(2_500_000_000, end - start);
        // Converting with a stale offset (read before the step) would have been an hour off: the offset must be read at dequeue.
        Assert.NotEqual(2_500_000_000, endStamp - startStamp);
    }

    [Fact]
    public void A_slewed_wall_clock_does_not_change_the_duration()
    {
        var clock = new SteppableClock();
        var arrival = new ArrivalClock(clock);
        var start = ArrivalClock.ToMonotonic(clock.RealtimeNs(), arrival.CurrentOffsetNs());
        for (var i = 0; i < 100; i++)
        {
            clock.Monotonic += 10_000_000;
            clock.WallOffset += 5_000; // slewing 500 ppm fast
        }

        var end = ArrivalClock.ToMonotonic(clock.RealtimeNs(), arrival.CurrentOffsetNs());
        Assert.Equal(1_000_000_000, end - start);
    }

    [Fact]
    public void Managed_fallback_is_reported_as_such()
    {
        using var managed = new TimingService(new IPEndPoint(IPAddress.Loopback, 0), forceManagedTimestamps: true);
        Assert.Equal(TimestampSource.Managed, managed.TimestampSource);
        Assert.Contains("managed", managed.TimestampDescription);
    }
}
