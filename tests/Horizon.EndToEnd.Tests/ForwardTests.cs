using Horizon.Lab;
using Horizon.Workloads;

namespace Horizon.EndToEnd.Tests;

/// <summary>The forward workload's generator for real: two namespaces, a veth pair, sometimes a known bottleneck.</summary>
[Collection("machine")]
public sealed class ForwardTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(64)]
    [InlineData(1518)]
    public async Task The_zero_loss_search_finds_a_known_bottleneck_in_frames_per_second_of_the_given_size(int frame)
    {
        // tbf at 8 Mbit/s counts each frame without its FCS (frame - 4 bytes): the highest lossless rate is known.
        const double bitsPerSecond = 8e6;
        var limit = bitsPerSecond / 8 / (frame - 4);
        await using var pair = await GeneratorPair.CreateAsync("8mbit", Ct);
        var output = await pair.RunAsync($"search dst={ForwardWorkload.RoutedBase} count=1000 frame={frame} ms=600 drain_ms=200 max=0 precision=0.03 trials=14", Ct);
        var m = ForwardWorkload.ParseResult(output);
        Assert.InRange(m["throughput_pps"], 0.6 * limit, 1.15 * limit);
        Assert.Equal(0, m["loss_percent"]);
        Assert.Equal(frame * 8 * m["throughput_pps"] / 1e6, m["throughput_mbps"], 0.01);

        // Every trial is kept; the first goes as fast as the generator can (far above the limit, so it loses frames), and
        // the search's passing trials lost nothing while every failing one lost some.
        var trials = Enumerable.Range(1, (int)m["search_trials"]).Select(n => $"trial{n:00}.").ToList();
        Assert.All(trials, t => Assert.True(m.ContainsKey(t + "offered_pps"), $"{t} missing from {output}"));
        Assert.True(m["trial01.offered_pps"] > 3 * limit, output);
        Assert.True(m["trial01.loss_percent"] > 0, output);
        Assert.All(trials, t => Assert.True(m[t + "forwarded_pps"] <= m[t + "offered_pps"] + 1));
        var passing = trials.Where(t => m[t + "loss_percent"] == 0).ToList();
        Assert.NotEmpty(passing);
        Assert.Equal(passing.Max(t => m[t + "offered_pps"]), m["throughput_pps"]);
        Assert.All(trials.Except(passing), t => Assert.True(m[t + "offered_pps"] > m["throughput_pps"], $"{t} failed below the result: {output}"));
    }

    [Fact]
    public async Task A_fixed_rate_trial_below_the_ceiling_forwards_every_frame_and_measures_latency()
    {
        await using var pair = await GeneratorPair.CreateAsync(null, Ct);
        var m = ForwardWorkload.ParseResult(await pair.RunAsync($"trial dst={ForwardWorkload.DirectBase} count=3 frame=512 ms=500 rate=20000", Ct));
        Assert.InRange(m["trial01.offered_pps"], 19000, 20500);
        Assert.Equal(0, m["loss_percent"]);
        Assert.InRange(m["latency_p50_us"], 0, 5000);
        Assert.True(m["latency_max_us"] >= m["latency_p99_us"] && m["latency_p99_us"] >= m["latency_p50_us"]);
    }

    [Fact]
    public async Task A_wrong_request_or_a_missing_namespace_is_an_error_that_says_what()
    {
        await using var pair = await GeneratorPair.CreateAsync(null, Ct);
        var bad = await Assert.ThrowsAsync<Horizon.Lab.LabException>(() => pair.RunAsync("trial frame=9000", Ct));
        Assert.Contains("frame must be 64..1518", bad.Message, StringComparison.Ordinal);
        var missing = await Assert.ThrowsAsync<Horizon.Lab.LabException>(() => pair.RunAsync("trial frame=64 ms=100 rate=100 sink_ns=hz-no-such-namespace", Ct));
        Assert.Contains("cannot enter network namespace /run/netns/hz-no-such-namespace", missing.Message, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => ForwardWorkload.ParseResult("error cannot enter network namespace /run/netns/x: No such file"));
    }
}
