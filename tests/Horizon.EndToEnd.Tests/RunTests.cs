using System.Globalization;
using System.Text.Json.Nodes;
using Horizon.Reports;

namespace Horizon.EndToEnd.Tests;

[Collection("machine")]
public sealed class RunTests
{
    [Fact]
    public async Task A_sleep_of_known_length_is_measured_within_a_few_milliseconds_from_outside()
    {
        await using var lab = await Lab.StartAsync();
        var (outcome, results) = await lab.RunAsync("""
            campaign: truth
            rounds: 5
            round_timeout: 30s
            experiments:
              - workload: command
                run: sleep 0.3
            """);
        Assert.True(outcome.AllCompleted);
        var e = Assert.Single(results);
        Assert.Equal(5, e.Rounds.Count(r => r.Measured));
        foreach (var r in e.Rounds)
        {
            // sleep can only overshoot; the probe path adds microseconds, the fork of sleep about a millisecond.
            Assert.InRange(r.Seconds!.Value, 0.300, 0.320);
            Assert.NotNull(r.GuestSeconds);
        }

        Assert.InRange(e.Statistics!.Mean, 0.300, 0.320);
        Assert.Equal("Completed", e.Status);
    }

    [Fact]
    public async Task A_swept_command_with_regex_metrics_runs_end_to_end_and_reaches_results_exports_and_report()
    {
        await using var lab = await Lab.StartAsync();
        var (outcome, results) = await lab.RunAsync("""
            campaign: sweep
            rounds: 2
            round_timeout: 30s
            experiments:
              - workload: command
                run: "for i in $(seq {naps}); do sleep 0.05; done; echo \"took {naps} naps\""
                metrics: "naps=took ([0-9]+) naps"
                sweep:
                  naps: [1, 4]
            """);
        Assert.True(outcome.AllCompleted, string.Join("; ", outcome.Experiments.Select(x => x.Note)));
        Assert.Equal(2, results.Length);
        foreach (var e in results)
        {
            var naps = int.Parse(e.Parameters["variant"].Split('=')[1], CultureInfo.InvariantCulture);
            Assert.All(e.Rounds, r =>
            {
                Assert.True(r.Measured);
                Assert.Equal(naps, r.Metrics!["naps"]);
                Assert.InRange(r.Seconds!.Value, 0.05 * naps, (0.05 * naps) + 0.2);
            });
        }

        var csv = Exporters.RoundsCsv(results);
        Assert.Contains("naps=4", csv, StringComparison.Ordinal);
        Assert.Contains("variant=naps=1", csv, StringComparison.Ordinal);
        var dir = Directory.CreateTempSubdirectory("horizon-sweep-").FullName;
        try
        {
            var html = await File.ReadAllTextAsync(Horizon.Figures.HtmlReport.Write("sweep", results, lab.Controller!.Store.RunOrder("sweep"), dir), TestContext.Current.CancellationToken);
            Assert.Contains("variant=naps=4", html, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task A_guest_whose_clock_runs_double_and_an_hour_behind_is_still_measured_right()
    {
        using var leftovers = Lab.FaketimeLeftovers();
        await using var lab = await Lab.StartAsync();
        var testbed = Lab.LocalTestbed($"""
              - name: skewed
                host: localhost
                vcpus: 1
                workdir: /var/tmp/horizon-tests
                wrapper: [faketime, -f, "-3600 x2"]
            """);
        var (outcome, results) = await lab.RunAsync("""
            campaign: skew
            rounds: 3
            round_timeout: 30s
            guests: [skewed]
            experiments:
              - workload: command
                run: env -u LD_PRELOAD sleep 0.5
            """, testbed);
        Assert.True(outcome.AllCompleted, string.Join("; ", outcome.Experiments.Select(x => x.Note)));
        var e = Assert.Single(results);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
        foreach (var r in e.Rounds)
        {
            Assert.True(r.Measured);
            Assert.InRange(r.Seconds!.Value, 0.5, 0.53);
            // The guest's own reading is stored beside it, and is wrong: its clock runs at double rate...
            Assert.InRange(r.GuestSeconds!.Value, 0.95, 1.1);
            // ...and an hour behind.
            Assert.InRange(now - r.GuestStartEpoch!.Value, 3500, 3700);
        }
    }

    [Fact]
    public async Task A_guest_that_dies_mid_round_leaves_a_failed_round_and_the_rest_intact()
    {
        await using var lab = await Lab.StartAsync();
        var (outcome, results) = await lab.RunAsync("""
            campaign: dying
            rounds: 3
            round_timeout: 30s
            experiments:
              - workload: command
                run: if [ $r -eq 1 ]; then kill -9 $$; fi; sleep 0.05
            """);
        var e = Assert.Single(results);
        var byRound = e.Rounds.ToDictionary(r => r.Round);
        Assert.True(byRound[0].Measured);
        Assert.False(byRound[1].Measured);
        Assert.Contains("guest script ended (exit 137)", byRound[1].Reason);
        Assert.Equal(3, e.Rounds.Count(r => r.Measured));
        Assert.True(outcome.AllCompleted);
    }

    [Fact]
    public async Task A_failing_workload_is_recorded_as_failed_rounds_and_stops_after_its_budget()
    {
        await using var lab = await Lab.StartAsync();
        var (outcome, results) = await lab.RunAsync("""
            campaign: broken
            rounds: 2
            round_timeout: 30s
            experiments:
              - workload: command
                run: echo 'disk on fire' >&2; exit 3
            """);
        var e = Assert.Single(results);
        Assert.Equal("Failed", e.Status);
        Assert.Equal(4, e.Rounds.Length);
        Assert.All(e.Rounds, r => Assert.Contains("workload exited with status 3: disk on fire", r.Reason));
        Assert.All(e.Rounds, r => Assert.NotNull(r.Seconds));
        Assert.False(outcome.AllCompleted);
    }

    [Fact]
    public async Task A_guest_without_the_tools_fails_prepare_naming_the_package()
    {
        await using var lab = await Lab.StartAsync();
        var testbed = Lab.LocalTestbed("""
              - name: bare
                host: localhost
                workdir: /var/tmp/horizon-tests
                wrapper: [env, PATH=/nonexistent]
            """);
        var (outcome, results) = await lab.RunAsync("""
            campaign: bare
            guests: [bare]
            experiments:
              - workload: superpi
                digits: 1000
            """, testbed);
        var e = Assert.Single(results);
        Assert.Equal("Failed", e.Status);
        Assert.Contains("apt-get install gcc libgmp-dev", e.Note);
        Assert.Empty(e.Rounds);
        Assert.False(outcome.AllCompleted);
    }

    [Fact]
    public async Task Adaptive_rounds_stop_once_the_interval_is_tight_enough()
    {
        await using var lab = await Lab.StartAsync();
        var (_, results) = await lab.RunAsync("""
            campaign: adaptive
            rounds: { min: 4, max: 40, target: 5% }
            round_timeout: 30s
            interleave: { block: 3 }
            experiments:
              - workload: command
                run: sleep 0.1
            """);
        var e = Assert.Single(results);
        var n = e.Rounds.Count(r => r.Measured);
        Assert.InRange(n, 4, 39);
        Assert.Contains("CI half-width", e.StopReason);
        Assert.True(e.Statistics!.RelativeHalfWidth <= 0.05);
    }

    [Fact]
    public async Task An_interrupted_campaign_resumes_after_a_restart_without_losing_or_duplicating_rounds()
    {
        await using var lab = await Lab.StartAsync();
        const string campaign = """
            campaign: resumable
            rounds: 6
            round_timeout: 30s
            experiments:
              - workload: command
                run: sleep 0.2
              - workload: command
                run: sleep 0.1
            """;
        using var cts = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => lab.RunUntilAsync(campaign, cts.Token, new CancelAfter(5, cts)));
        var before = lab.Controller!.Store.Experiments("resumable");
        var recordedBefore = before.SelectMany(e => e.Rounds.Select(r => (e.Id, r.Round, r.Seconds))).ToList();
        Assert.InRange(recordedBefore.Count, 5, 6);

        await lab.RestartAsync();
        var (outcome, after) = await lab.RunAsync(campaign);
        Assert.True(outcome.AllCompleted);
        foreach (var e in after)
        {
            Assert.Equal(6, e.Rounds.Count(r => r.Measured));
            Assert.Equal(e.Rounds.Length, e.Rounds.Select(r => r.Round).Distinct().Count());
            Assert.All(e.Rounds.Where(r => !r.Measured), r => Assert.StartsWith("interrupted", r.Reason));
        }

        // Everything recorded before the interruption is still there, unchanged.
        var afterSet = after.SelectMany(e => e.Rounds.Select(r => (e.Id, r.Round, r.Seconds))).ToHashSet();
        Assert.All(recordedBefore, x => Assert.Contains(x, afterSet));
        var order = lab.Controller.Store.RunOrder("resumable");
        Assert.Equal(order.Length, order.Select(o => o.Seq).Distinct().Count());
        Assert.True(order.Length >= 12);
    }

    [Trait("needs", "toolchain")]
    [Fact]
    public async Task Every_study_workload_runs_here_at_small_sizes_and_exports_with_its_environment()
    {
        await using var lab = await Lab.StartAsync();
        var (outcome, results) = await lab.RunAsync("""
            campaign: all-workloads
            rounds: 2
            round_timeout: 5m
            experiments:
              - workload: superpi
                digits: 20000
              - workload: masr
                size: 16M
              - workload: bonnie
                size: 8M
                files: 1
              - workload: zfg
                size: 4M
                files: 2
              - workload: zfg-dirty
                size: 4M
                files: 2
                dirty: 16M
              - workload: zfg-rest
                size: 4M
                files: 2
                rest: 200ms
              - workload: kernel-build
                target: init/
                rounds: 1
            """);
        Assert.True(outcome.AllCompleted, string.Join("; ", outcome.Experiments.Where(x => x.Note is not null).Select(x => $"{x.Definition.Key}: {x.Note}")));
        Assert.Equal(7, results.Length);
        Assert.All(results, e => Assert.True(e.Rounds.All(r => r.Measured), e.Key));
        var rest = results.Single(e => e.Workload == "zfg-rest");
        // The 200 ms rest is untimed: it is not inside the measured rounds.
        Assert.All(rest.Rounds, r => Assert.True(r.Seconds < 5));

        var rows = ResultsTable.Build(results);
        var json = JsonNode.Parse(Exporters.Json(rows, new Dictionary<string, IReadOnlyList<(int, Guid, int, int)>>()))!;
        var superpi = json["experiments"]!.AsArray().Single(x => (string?)x!["workload"] == "superpi")!;
        Assert.Equal(Environment.ProcessorCount, (int)superpi["environment"]!["guests"]![0]!["cpus"]!);
        Assert.False(string.IsNullOrEmpty((string?)superpi["environment"]!["guests"]![0]!["kernel"]));
        Assert.Equal("20000", (string?)superpi["parameters"]!["digits"]);
        Assert.Equal(2, superpi["rounds"]!.AsArray().Count);
        var csv = Exporters.RoundsCsv(results).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(1 + results.Sum(e => e.Rounds.Length), csv.Length);
        Assert.StartsWith("campaign,experiment_id,workload", csv[0]);
    }

    [Fact]
    public async Task The_native_cpu_schemes_are_applied_and_read_back()
    {
        await using var lab = await Lab.StartAsync();
        var (outcome, results) = await lab.RunAsync("""
            campaign: schemes
            rounds: 2
            round_timeout: 30s
            cpu_scheme: shared-core
            experiments:
              - workload: command
                run: grep Cpus_allowed_list /proc/self/status | grep -qx 'Cpus_allowed_list:[[:space:]]*0'
            """);
        Assert.True(outcome.AllCompleted, string.Join("; ", outcome.Experiments.Select(x => x.Note)));
        var e = Assert.Single(results);
        Assert.Equal(2, e.Rounds.Count(r => r.Measured));
        Assert.Contains("\"affinity\":\"0\"", e.EnvironmentJson);
    }
}

[Collection("machine")]
public sealed class NetworkTests
{
    [Fact]
    public async Task Iperf_udp_runs_in_both_directions_against_the_peer_and_reports_throughput()
    {
        await using var lab = await Lab.StartAsync();
        var testbed = Lab.LocalTestbed(withPeer: true);
        var (outcome, results) = await lab.RunAsync("""
            campaign: iperf
            rounds: 3
            round_timeout: 1m
            experiments:
              - workload: iperf-udp
                direction: guest-to-peer
                rate: 40M
                duration: 1s
                port: 5291
              - workload: iperf-udp
                direction: peer-to-guest
                rate: 40M
                duration: 1s
                port: 5291
            """, testbed);
        Assert.True(outcome.AllCompleted, string.Join("; ", outcome.Experiments.Select(x => x.Note)));
        Assert.Equal(2, results.Length);
        foreach (var e in results)
        {
            Assert.Equal("throughput_mbps", e.Metric.Name);
            Assert.Equal(3, e.Rounds.Count(r => r.Measured));
            Assert.All(e.Rounds, r =>
            {
                Assert.InRange(r.Metrics!["throughput_mbps"], 30, 42);
                Assert.InRange(r.Metrics!["loss_percent"], 0, 5);
                // Still bracketed by probes: the round lasts the flow's second.
                Assert.InRange(r.Seconds!.Value, 1.0, 2.5);
            });
            Assert.InRange(e.Statistics!.Mean, 30, 42);
        }

        var text = ResultsTable.ToText(ResultsTable.Build(results));
        Assert.Contains("Mbit/s", text);
    }
}
