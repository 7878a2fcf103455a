using System.Text.Json.Nodes;
using Horizon.Reports;

namespace Horizon.EndToEnd.Tests;

/// <summary>
/// What surrounds a round: warm-up rounds (run, stored and exported, never in the statistics), warnings that name rounds as
/// the exports do, the CPU accounting of each round from /proc/stat, and no fixed wait between rounds.
/// </summary>
[Collection("machine")]
public sealed class RoundCostTests
{
    [Fact]
    public async Task Warmup_rounds_are_stored_and_exported_but_left_out_of_the_statistics_and_warnings_name_the_export_round()
    {
        await using var lab = await Lab.StartAsync();
        // Executions 0 and 1 (the warm-up) are slow, as a cold first run is; execution 4 — round index 4 — is slow too.
        var (outcome, results) = await lab.RunAsync("""
            campaign: warm
            rounds: 8
            warmup: 2
            round_timeout: 30s
            experiments:
              - workload: command
                run: "n=$(cat count 2>/dev/null || echo 0); echo $((n+1)) > count; case $n in 0|1) sleep 0.25;; 4) sleep 0.3;; *) sleep 0.02;; esac"
            """);
        Assert.True(outcome.AllCompleted, string.Join("; ", outcome.Experiments.Select(x => x.Note)));
        var e = Assert.Single(results);
        Assert.Equal(10, e.Rounds.Length);
        Assert.Equal([0, 1], e.Rounds.Where(r => r.Warmup).Select(r => r.Round).Order());
        Assert.All(e.Rounds.Where(r => r.Warmup), r => Assert.InRange(r.Seconds!.Value, 0.25, 0.4));
        Assert.Equal(8, e.Statistics!.N);
        Assert.Equal(0, e.FailedCount);
        // The statistics hold rounds 2..9 only: seven 0.02 s rounds and one 0.3 s round.
        Assert.InRange(e.Statistics.Mean, ((7 * 0.02) + 0.3) / 8, (((7 * 0.02) + 0.3) / 8) + 0.02);
        Assert.InRange(e.Statistics.Max, 0.3, 0.35);

        // Round 4 is named "#4" as in the exports (it is the 3rd measured round: the old numbering said "#3").
        var warning = Assert.Single(e.Conclusions(), c => c.Code == "outliers");
        Assert.Contains("#4=0.3", warning.Message, StringComparison.Ordinal);
        var slow = e.Rounds.Single(r => r.Round == 4);
        Assert.InRange(slow.Seconds!.Value, 0.3, 0.35);

        var csv = Exporters.RoundsCsv(results).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.EndsWith(",warmup", csv[0], StringComparison.Ordinal);
        Assert.Equal(2, csv.Count(l => l.EndsWith(",true", StringComparison.Ordinal)));
        Assert.Equal(8, csv.Count(l => l.EndsWith(",false", StringComparison.Ordinal)));
        var json = JsonNode.Parse(Exporters.Json(ResultsTable.Build(results), new Dictionary<string, IReadOnlyList<(int, Guid, int, int)>>()))!;
        var experiment = json["experiments"]![0]!;
        Assert.Equal(2, experiment["warmup_rounds"]!.GetValue<int>());
        Assert.Equal(8, experiment["statistics"]!["n"]!.GetValue<int>());
        Assert.Equal([true, true, false], experiment["rounds"]!.AsArray().Take(3).Select(r => r!["warmup"]!.GetValue<bool>()));
        // The warm-up ran as one block right before the measured rounds: the run order starts with it.
        var order = lab.Controller!.Store.RunOrder("warm");
        Assert.Equal((0, 2), (order[0].FirstRound, order[0].Rounds));
    }

    [Fact]
    public async Task Each_round_carries_the_guests_cpu_accounting_and_rounds_follow_each_other_without_a_fixed_wait()
    {
        await using var lab = await Lab.StartAsync();
        var (outcome, results) = await lab.RunAsync("""
            campaign: cost
            rounds: 6
            round_timeout: 30s
            experiments:
              - workload: command
                run: "timeout 0.4 bash -c 'while :; do :; done'; true"
              - workload: command
                run: sleep 0.4
              - workload: command
                run: "true"
                rounds: 12
            """);
        Assert.True(outcome.AllCompleted, string.Join("; ", outcome.Experiments.Select(x => x.Note)));
        var busy = results.Single(e => e.Parameters["run"].StartsWith("timeout", StringComparison.Ordinal));
        var idle = results.Single(e => e.Parameters["run"] == "sleep 0.4");
        foreach (var r in busy.Rounds.Concat(idle.Rounds))
        {
            var m = r.Metrics!;
            var shares = CpuShares.Sum(k => m[$"guest_cpu_{k}_pct"]);
            Assert.InRange(shares, 99, 101);
            // CPU-seconds that passed on all the guest's CPUs: ~0.4 s × the CPUs the kernel counts (ticks of 10 ms).
            Assert.InRange(m["guest_cpu_s"], 0.3 * Environment.ProcessorCount, 0.6 * Environment.ProcessorCount);
            // A native guest is the host: no separate host accounting.
            Assert.False(m.ContainsKey("host_cpu_user_pct"));
        }

        // One core spinning is at least one core's worth of user time. (The accounting is the whole guest's: whatever
        // else runs on this machine meanwhile — other tests — only adds, so the sleep's share is not bounded here.)
        Assert.True(busy.GuestCpu!.User >= 70.0 / Environment.ProcessorCount, $"busy: {busy.GuestCpu}; idle: {idle.GuestCpu}");
        Assert.All(busy.Rounds, r => Assert.True(r.Metrics!["guest_cpu_user_pct"] + r.Metrics["guest_cpu_system_pct"] >= 70.0 / Environment.ProcessorCount, $"round {r.Round}: {r.Metrics["guest_cpu_user_pct"]} % user"));

        // Rounds follow each other without a fixed wait: the gap from one round's start probe to the next one's, less the
        // round itself, was 1.9 s (a poll of the guest's process); it must now be well under half a second.
        var quick = results.Single(e => e.Parameters["run"] == "true");
        var starts = quick.Rounds.OrderBy(r => r.Round).Select(r => r.Metrics![RoundResultStart]).ToArray();
        var gaps = starts.Zip(starts.Skip(1), (a, b) => b - a).Order().ToArray();
        Assert.True(gaps[gaps.Length / 2] < 0.5, $"median gap between rounds {gaps[gaps.Length / 2]:0.000} s");
    }

    private static readonly string[] CpuShares = ["user", "system", "iowait", "steal", "idle"];

    private const string RoundResultStart = Horizon.Results.RoundResult.StartMetric;
}
