using System.Net.Sockets;
using System.Net;
using CsCheck;
using Horizon.Probes;
using Horizon.Results;

namespace Horizon.Timing.Tests;

/// <summary>Hostile input for the probe path: a recorded corpus, then generated datagrams, then a flood beside an honest stream.</summary>
public sealed class ProbeFuzzTests : IDisposable
{
    private static readonly byte[] Key = [.. Enumerable.Range(0, 32).Select(i => (byte)i)];
    private static readonly Guid Experiment = Guid.Parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    private readonly TimingService service = new(new IPEndPoint(IPAddress.Loopback, 0));

    public void Dispose() => service.Dispose();

    [Fact]
    public void The_recorded_corpus_is_classified_exactly()
    {
        using var session = service.Register(Experiment, Key, 2, 0, 100, TimeSpan.FromMinutes(1));
        var lines = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Corpus", "probes.txt")).Where(l => !l.StartsWith('#')).ToList();
        Assert.True(lines.Count >= 15);
        foreach (var line in lines)
        {
            var parts = line.Split(' ');
            var before = service.Counters;
            service.OnDatagram(Convert.FromHexString(parts[2]), service.Clock.MonotonicNs());
            var after = service.Counters;
            if (parts[1] == "accepted")
            {
                Assert.True(after.Accepted == before.Accepted + 1, parts[0]);
            }
            else
            {
                var reason = Enum.Parse<ProbeRejection>(parts[1]);
                Assert.True(after.Rejected[reason] == before.Rejected[reason] + 1, $"{parts[0]}: expected {reason}");
            }
        }
    }

    [Fact]
    public void Random_and_mutated_datagrams_never_throw_and_are_never_accepted()
    {
        using var session = service.Register(Experiment, Key, 4, 0, 1000, TimeSpan.FromMinutes(1));
        var valid = ProbeFormat.Encode(new ProbeHeader(ProbePhase.Start, 0, Experiment, 1, 7), Key);
        var mutated = Gen.Select(Gen.Int[0, ProbeFormat.Size - 1], Gen.Byte[1, 255], Gen.Int[0, 60]).Select((at, xor, length) =>
        {
            var bytes = (byte[])valid.Clone();
            bytes[at] ^= xor;
            return length < ProbeFormat.Size ? bytes[..length] : length > ProbeFormat.Size ? [.. bytes, .. new byte[length - ProbeFormat.Size]] : bytes;
        });
        var random = Gen.Byte.Array[0, 100];
        Gen.OneOf(mutated, random).Sample(bytes =>
        {
            service.OnDatagram(bytes, service.Clock.MonotonicNs());
        }, iter: 200_000, threads: 1);
        var c = service.Counters;
        Assert.Equal(0, c.Accepted);
        Assert.Equal(c.Datagrams, c.RejectedTotal + c.Duplicates);
    }

    [Fact]
    public async Task A_flood_of_garbage_does_not_disturb_honest_rounds()
    {
        using var session = service.Register(Experiment, Key, 1, 0, 20, TimeSpan.FromMinutes(1));
        using var flooder = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        flooder.Connect(service.LocalEndPoint);
        using var honest = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        honest.Connect(service.LocalEndPoint);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var forged = ProbeFormat.Encode(new ProbeHeader(ProbePhase.Start, 0, Experiment, 0, 3), ProbeFormat.NewKey());
        long flooded = 0;
        var flood = Task.Run(() =>
        {
            var rng = new Random(1);
            var junk = new byte[48];
            while (!stop.IsCancellationRequested)
            {
                rng.NextBytes(junk);
                flooder.Send(flooded % 2 == 0 ? junk : forged);
                flooded++;
                // Up to ~90,000 datagrams/s, a quarter of the lossless rate `horizon bench probes` measures: an unpaced
                // sender on 2 cores can overflow the socket's queue, and a lost honest probe is the kernel's drop, not
                // the service being disturbed.
                if (flooded % 100 == 0)
                {
                    Thread.Sleep(1);
                }
            }
        }, TestContext.Current.CancellationToken);
        var measured = new List<double>();
        for (uint r = 0; r < 10; r++)
        {
            var start = service.Clock.MonotonicNs();
            honest.Send(ProbeFormat.Encode(new ProbeHeader(ProbePhase.Start, 0, Experiment, 0, r), Key));
            while (service.Clock.MonotonicNs() - start < 100_000_000)
            {
                await Task.Yield();
            }

            var end = service.Clock.MonotonicNs();
            honest.Send(ProbeFormat.Encode(new ProbeHeader(ProbePhase.End, 0, Experiment, 0, r), Key));
            var round = await session.Results.ReadAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
            Assert.Equal(RoundOutcome.Measured, round.Status);
            // The service's duration against the sender's own clock: garbage in the queue must not delay or reorder it.
            measured.Add(Math.Abs(round.Seconds!.Value - ((end - start) / 1e9)));
        }

        stop.Cancel();
        await flood;
        Assert.True(flooded > 10_000, $"only {flooded} garbage datagrams were sent");
        Assert.True(service.Counters.RejectedTotal > 5_000);
        Assert.All(measured, error => Assert.True(error < 0.002, $"duration off by {error * 1000:0.000} ms under the flood"));
    }
}
