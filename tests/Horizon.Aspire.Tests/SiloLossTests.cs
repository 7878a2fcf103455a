using System.Text.RegularExpressions;
using Horizon.Desk;

namespace Horizon.Aspire.Tests;

/// <summary>A campaign survives the death of the controller silo that hosts its experiment.</summary>
// One cluster of processes at a time (with the AppHost's): seven .NET services starting at once on 2 cores kept a silo
// from becoming healthy within 90 s in one CI run.
[Collection("apphost")]
[Trait("needs", "stack")]
public sealed partial class SiloLossTests
{
    [GeneratedRegex("""^orleans_grains\{[^}]*grain_type="experiment"[^}]*\} (\d+)""", RegexOptions.Multiline)]
    private static partial Regex ExperimentGrains();

    [Fact]
    public async Task Killing_the_silo_that_hosts_the_experiment_mid_campaign_loses_no_round_and_the_campaign_completes()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await ClusterProcesses.StartAsync(2, ct);
        try
        {
            // The controllers' own endpoints, as deployed: /healthz answers once (it was mapped twice: 500), and a request
            // for a foreign Host (DNS rebinding) or from a foreign origin is refused before it reaches the API.
            using (var api = cluster.Client(1))
            {
                Assert.Equal("ok", await api.GetStringAsync("/healthz", ct));
                using var rebound = new HttpRequestMessage(HttpMethod.Get, "/api/campaigns");
                rebound.Headers.Host = "attacker.example";
                Assert.Equal(System.Net.HttpStatusCode.Forbidden, (await api.SendAsync(rebound, ct)).StatusCode);
                using var crossOrigin = new HttpRequestMessage(HttpMethod.Post, "/api/campaigns") { Content = new StringContent("""{"preset":"quick"}""", System.Text.Encoding.UTF8, "application/json") };
                crossOrigin.Headers.Add("Origin", "http://attacker.example");
                Assert.Equal(System.Net.HttpStatusCode.Forbidden, (await api.SendAsync(crossOrigin, ct)).StatusCode);
            }

            using (var api = cluster.Client(0))
            {
                await Campaigns.SubmitAsync(api, new CampaignSubmission(null, """
                    campaign: silo-loss
                    rounds: 16
                    round_timeout: 1m
                    experiments:
                      - workload: superpi
                        digits: 100000
                    """, null, null), ct);
            }

            // Wait for a few recorded rounds, then find the silo whose catalog holds the experiment grain.
            var before = "";
            var victim = -1;
            var until = DateTime.UtcNow + TimeSpan.FromMinutes(3);
            while (victim < 0)
            {
                Assert.True(DateTime.UtcNow < until, "the campaign never reached 3 measured rounds\n" + cluster.Logs());
                await Task.Delay(500, ct);
                using var api = cluster.Client(0);
                var view = await Campaigns.ViewAsync(api, "silo-loss", ct);
                if (view.Measured < 3)
                {
                    continue;
                }

                for (var i = 0; i < 2; i++)
                {
                    using var metrics = cluster.Client(i);
                    var text = await metrics.GetStringAsync("/metrics", ct);
                    if (ExperimentGrains().Matches(text).Any(m => long.Parse(m.Groups[1].Value) > 0))
                    {
                        victim = i;
                    }
                }

                before = await api.GetStringAsync("/api/campaigns/silo-loss/results?format=rounds.csv", ct);
            }

            var survivor = 1 - victim;
            var killedAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            cluster.Kill(cluster.Controllers[victim].Pid);
            var recordedBefore = before.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).ToList();
            Assert.True(recordedBefore.Count >= 3, before);

            var done = await Campaigns.WaitFinishedAsync(() => cluster.Client(survivor), "silo-loss", TimeSpan.FromMinutes(5), ct);
            Assert.True(done.State == "Completed", $"{done.State}: {done.Detail}\n{string.Join("\n", done.Log)}\n{cluster.Logs()}");

            using var reader = cluster.Client(survivor);
            var after = await reader.GetStringAsync("/api/campaigns/silo-loss/results?format=rounds.csv", ct);
            var recordedAfter = after.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).ToList();
            // Every round recorded before the kill is still there, unchanged; the campaign got all its rounds.
            Assert.All(recordedBefore, row => Assert.Contains(row, recordedAfter));
            Assert.Equal(16, recordedAfter.Count(r => r.Contains(",measured,", StringComparison.Ordinal)));
            Assert.Equal(16, recordedAfter.Select(r => r.Split(',')[8]).Distinct().Count());
            Assert.True(done.Measured >= 16 - recordedBefore.Count, $"desk counted {done.Measured}");

            // For the docs: how long the campaign stood still (the last round before the kill to the first after it).
            var times = recordedAfter.Select(r => long.Parse(r.Split(',')[15])).Order().ToList();
            var lastBefore = times.Where(t => t <= killedAt).DefaultIfEmpty(killedAt).Max();
            var firstAfter = times.Where(t => t > killedAt).DefaultIfEmpty(killedAt).Min();
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"silo {victim} killed after {recordedBefore.Count} rounds; first round after the kill recorded {(firstAfter - killedAt) / 1000.0:F1} s later " +
                $"(gap between rounds {(firstAfter - lastBefore) / 1000.0:F1} s); {recordedAfter.Count} rounds in all");
        }
        catch (Exception e) when (e is not Xunit.Sdk.XunitException)
        {
            throw new InvalidOperationException(e.Message + "\n" + cluster.Logs(), e);
        }
    }
}
