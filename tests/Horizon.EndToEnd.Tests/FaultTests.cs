using System.Diagnostics;
using Horizon.Grains;

namespace Horizon.EndToEnd.Tests;

/// <summary>Faults injected for real, each bounded and self-stopping.</summary>
[Collection("machine")]
public sealed class FaultTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("+0 i3600", 3599, 1e9)]   // the guest's clock steps an hour at every reading
    [InlineData("+0 x0.5", 0.12, 0.18)]   // ...or runs at half speed (slewed)
    public async Task A_stepped_or_slewed_guest_clock_does_not_change_external_durations(string faketime, double guestLow, double guestHigh)
    {
        using var leftovers = Lab.FaketimeLeftovers();
        await using var lab = await Lab.StartAsync();
        var testbed = Lab.LocalTestbed($"""
              - name: clocky
                host: localhost
                workdir: /var/tmp/horizon-tests
                wrapper: [faketime, -f, "{faketime}"]
            """);
        var (outcome, results) = await lab.RunAsync("""
            campaign: clocks
            rounds: 3
            round_timeout: 30s
            guests: [clocky]
            experiments:
              - workload: command
                run: env -u LD_PRELOAD sleep 0.3
            """, testbed);
        Assert.True(outcome.AllCompleted, string.Join("; ", outcome.Experiments.Select(x => x.Note)));
        Assert.All(Assert.Single(results).Rounds, r =>
        {
            Assert.InRange(r.Seconds!.Value, 0.3, 0.33);
            Assert.InRange(r.GuestSeconds!.Value, guestLow, guestHigh);
        });
    }

    [Fact]
    public async Task A_horizon_process_killed_mid_campaign_resumes_without_losing_or_duplicating_rounds()
    {
        var data = Path.Combine(Path.GetTempPath(), $"horizon-kill-{Guid.NewGuid():N}");
        Directory.CreateDirectory(data);
        var campaign = Path.Combine(data, "c.yaml");
        await File.WriteAllTextAsync(campaign, "campaign: killed\nrounds: 8\nround_timeout: 30s\nexperiments:\n  - workload: command\n    run: sleep 0.3\n", Ct);
        try
        {
            using (var first = Start("run", "-c", campaign, "--data", data))
            {
                var store = new ResultsStore(Path.Combine(data, "horizon.db"));
                var until = DateTime.UtcNow + TimeSpan.FromMinutes(2);
                while (DateTime.UtcNow < until && store.Experiments("killed").Sum(e => e.Rounds.Length) < 3)
                {
                    await Task.Delay(100, Ct);
                }

                first.Kill(); // SIGKILL: no cleanup, no flush
                await first.WaitForExitAsync(Ct);
            }

            var before = new ResultsStore(Path.Combine(data, "horizon.db")).Experiments("killed").Single().Rounds;
            Assert.InRange(before.Length, 3, 7);
            // Its last guest script may still be finishing its round; it ends by itself.
            await Task.Delay(1000, Ct);
            using (var second = Start("run", "-c", campaign, "--data", data))
            {
                var output = await second.StandardOutput.ReadToEndAsync(Ct);
                await second.WaitForExitAsync(Ct).WaitAsync(TimeSpan.FromMinutes(3), Ct);
                Assert.True(second.ExitCode == 0, output);
            }

            var after = new ResultsStore(Path.Combine(data, "horizon.db")).Experiments("killed").Single();
            Assert.Equal(8, after.Rounds.Count(r => r.Measured));
            Assert.Equal(after.Rounds.Length, after.Rounds.Select(r => r.Round).Distinct().Count());
            Assert.All(after.Rounds.Where(r => !r.Measured), r => Assert.StartsWith("interrupted", r.Reason));
            Assert.All(before, b => Assert.Contains(after.Rounds, a => a.Round == b.Round && a.Seconds == b.Seconds && a.Measured == b.Measured));
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task The_network_peer_going_down_during_iperf_fails_those_rounds_with_the_reason_and_keeps_the_finished_ones()
    {
        await using var lab = await Lab.StartAsync();
        var testbed = Lab.LocalTestbed(withPeer: true);
        // After two rounds the peer's iperf3 service (its supervisor loop and the server) is killed for good.
        var killer = new KillPeerAfter(2, 5292);
        var (outcome, results) = await lab.RunUntilAsync("""
            campaign: peer-down
            rounds: 4
            round_timeout: 1m
            experiments:
              - workload: iperf-udp
                rate: 20M
                duration: 1s
                port: 5292
            """, Ct, killer, testbed);
        var e = Assert.Single(results);
        var measured = e.Rounds.Where(r => r.Measured).ToList();
        Assert.Equal(2, measured.Count);
        Assert.All(measured, r => Assert.InRange(r.Metrics!["throughput_mbps"], 15, 21));
        var failed = e.Rounds.Where(r => !r.Measured).ToList();
        Assert.NotEmpty(failed);
        Assert.All(failed, r => Assert.Contains("unable to connect to server", r.Reason));
        Assert.Equal("Failed", e.Status);
        Assert.False(outcome.AllCompleted);
    }

    private sealed class KillPeerAfter(int rounds, int port) : Scheduler.IRunProgress
    {
        private int seen;

        public void RoundRecorded(ExperimentDefinition definition, RoundRecord round, ExperimentSnapshot snapshot)
        {
            if (Interlocked.Increment(ref seen) == rounds)
            {
                using var p = Process.Start("bash", ["-c", $"kill -KILL -- -$(cat /tmp/horizon-iperf3-{port}.pid)"]);
                p.WaitForExit();
            }
        }
    }

    private static Process Start(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = false, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "horizon.dll"));
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["COLUMNS"] = "200";
        return Process.Start(start)!;
    }
}
