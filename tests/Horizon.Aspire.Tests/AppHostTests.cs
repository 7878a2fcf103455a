using Aspire.Hosting;
using Aspire.Hosting.Testing;
using Horizon.Desk;

namespace Horizon.Aspire.Tests;

/// <summary>
/// The whole AppHost, really started (Redis, two controller silos, the scheduler service, Prometheus), on ports of its
/// own so a developer's running stack is not disturbed.
/// </summary>
public sealed class AppHostFixture : IAsyncLifetime
{
    public const int RedisPort = 16399;
    public const int PrometheusPort = 19090;
    public const int ProbePort = 17300;
    public const int ApiPort = 15080;
    public static readonly string[] Services = ["controller-0", "controller-1", "agent-0", "prometheus"];

    private readonly string data = Directory.CreateTempSubdirectory("horizon-apphost-").FullName;

    public DistributedApplication App { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Horizon_AppHost>(
            [$"Horizon:RedisPort={RedisPort}", $"Horizon:PrometheusPort={PrometheusPort}", $"Horizon:ProbePort={ProbePort}", $"Horizon:ApiPort={ApiPort}", $"Horizon:DataDirectory={data}"],
            TestContext.Current.CancellationToken);
        App = await builder.BuildAsync(TestContext.Current.CancellationToken);
        using var start = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        await App.StartAsync(start.Token);
        foreach (var service in Services)
        {
            await App.ResourceNotifications.WaitForResourceHealthyAsync(service, start.Token);
        }
    }

    public HttpClient Controller(int i = 0) => App.CreateHttpClient($"controller-{i}", "http");

    public async ValueTask DisposeAsync()
    {
        if (App is not null)
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            await App.StopAsync(stop.Token);
            await App.DisposeAsync();
        }

        try
        {
            Directory.Delete(data, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

[CollectionDefinition("apphost")]
public sealed class AppHostCollection : ICollectionFixture<AppHostFixture>;

[Collection("apphost")]
[Trait("needs", "stack")]
public sealed class AppHostTests(AppHostFixture stack)
{
    [Fact]
    public async Task Every_service_reports_healthy_and_the_quick_campaign_runs_through_the_api()
    {
        var ct = TestContext.Current.CancellationToken;
        foreach (var service in AppHostFixture.Services.Where(s => s != "prometheus"))
        {
            using var http = stack.App.CreateHttpClient(service, "http");
            Assert.Equal("Healthy", await http.GetStringAsync("/health", ct));
        }

        using var api = stack.Controller(1);
        var submitted = await Campaigns.SubmitAsync(api, new CampaignSubmission(null, null, "quick", "aspire-quick"), ct);
        Assert.Equal("Queued", submitted.State);
        var done = await Campaigns.WaitFinishedAsync(() => stack.Controller(0), "aspire-quick", TimeSpan.FromMinutes(12), ct);
        Assert.True(done.State == "Completed", $"{done.State}: {done.Detail}\n{string.Join("\n", done.Log)}");
        Assert.True(done.Measured >= submitted.Experiments * 2, $"{done.Measured} rounds measured for {submitted.Experiments} experiments");

        // Results are readable from either silo (the store is Redis, not a silo's disk).
        foreach (var i in new[] { 0, 1 })
        {
            using var http = stack.Controller(i);
            var experiments = await Campaigns.ResultsAsync(http, "aspire-quick", ct);
            Assert.Equal(submitted.Experiments, experiments.Count);
            Assert.All(experiments, e =>
            {
                Assert.Equal("Completed", (string?)e!["status"]);
                Assert.True((int)e["statistics"]!["n"]! >= 2, e.ToJsonString());
                Assert.True((double)e["statistics"]!["mean"]! > 0, e.ToJsonString());
            });
        }
    }

    [Fact]
    public async Task Every_dashboard_panel_query_returns_series_from_the_real_prometheus_after_a_real_run()
    {
        var ct = TestContext.Current.CancellationToken;
        using var api = stack.Controller(0);
        await Campaigns.SubmitAsync(api, new CampaignSubmission(Campaigns.TwoGuestTestbed, """
            campaign: aspire-metrics
            rounds: 3
            round_timeout: 1m
            experiments:
              - workload: superpi
                digits: 20000
                guests: [native-a, native-b]
                concurrent: true
              - workload: iperf-udp
                guests: [native-a]
                rate: 20M
                duration: 1s
                port: 5297
              - workload: command
                run: sleep 0.1
                guests: [native-b]
                rounds: 10
            """, null, null), ct);
        var garbage = 0;
        var done = await Campaigns.WaitFinishedAsync(() => stack.Controller(0), "aspire-metrics", TimeSpan.FromMinutes(5), ct, view =>
        {
            // While the campaign runs its timing socket is open: datagrams that are not probes must be counted as rejected.
            if (view.State == "Running" && garbage < 3)
            {
                Campaigns.SendGarbage(AppHostFixture.ProbePort, 5);
                garbage++;
            }

            return Task.CompletedTask;
        });
        Assert.True(done.State == "Completed", $"{done.State}: {done.Detail}\n{string.Join("\n", done.Log)}");
        Assert.True(garbage > 0, "the campaign was never seen running");

        using var prometheus = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{AppHostFixture.PrometheusPort}") };
        var queries = Dashboards.Queries();
        Assert.True(queries.Count >= 20, $"only {queries.Count} panel queries found");
        var failures = new List<string>();
        // Prometheus scrapes every 2 s: give the last values a few scrapes to arrive, then every query must answer with series.
        for (var attempt = 0; attempt < 15; attempt++)
        {
            failures.Clear();
            foreach (var q in queries)
            {
                var (ok, series, error) = await Dashboards.QueryAsync(prometheus, q.Expr, ct);
                if (!ok || series == 0)
                {
                    failures.Add($"{q.Dashboard} / {q.Panel}: {(ok ? "no series" : error)} — {q.Expr}");
                }
            }

            if (failures.Count == 0)
            {
                break;
            }

            await Task.Delay(TimeSpan.FromSeconds(2), ct);
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));

        // The campaign ends within a scrape or two of its last round (rounds no longer wait seconds between them): wait,
        // bounded, for the scrapes to catch up with its last rounds.
        const string commandRounds = "sum(horizon_rounds_recorded_total{workload=\"command\",outcome=\"measured\"})";
        for (var attempt = 0; attempt < 30 && await Dashboards.ValuesAsync(prometheus, commandRounds, ct) is not [10]; attempt++)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }

        // The campaign had finished before the scrape that saw the tenth: one more scrape interval and every gauge is final.
        await Task.Delay(TimeSpan.FromSeconds(2.5), ct);

        // The panels' numbers, for the one experiment whose rounds are known: ten rounds of `sleep 0.1`.
        async Task<double> Panel(string title, int target = 0)
        {
            var q = queries.Where(x => x.Panel == title).ElementAt(target);
            var expr = q.Expr.Replace("$workload", "command", StringComparison.Ordinal);
            var values = await Dashboards.ValuesAsync(prometheus, expr, ct);
            return Assert.Single(values);
        }

        Assert.InRange(await Panel("Round duration p50 / p95", 0), 0.1, 0.15);
        Assert.InRange(await Panel("Round duration p50 / p95", 1), 0.1, 0.15);
        Assert.InRange(await Panel("Mean round duration per guest"), 0.1, 0.13);
        var recorded = await Dashboards.ValuesAsync(prometheus, "sum(horizon_rounds_recorded_total{workload=\"command\",outcome=\"measured\"})", ct);
        Assert.Equal(10, Assert.Single(recorded));
        // One agent ran every campaign of this stack: its panel row counts every measured round the campaigns report.
        var campaigns = System.Text.Json.Nodes.JsonNode.Parse(await api.GetStringAsync("api/campaigns", ct))!["submitted"]!.AsArray();
        Assert.Equal(campaigns.Sum(c => (int)c!["measured"]!), await Panel("Rounds measured per agent"));

        // The CPU panel shows the last round's steal and I/O wait of each guest: the values stored with that round.
        var lastRound = (await Campaigns.ResultsAsync(api, "aspire-metrics", ct))
            .SelectMany(e => e!["rounds"]!.AsArray()).Where(r => (string)r!["guest"]! == "native-b" && r["metrics"]?["guest_cpu_steal_pct"] is not null)
            .MaxBy(r => (long)r!["recorded_unix_ms"]!)!;
        var cpuPanel = queries.Where(x => x.Panel == "CPU steal and I/O wait of the last round").ToList();
        Assert.Equal(2, cpuPanel.Count);
        foreach (var (query, metric) in cpuPanel.Zip(["guest_cpu_steal_pct", "guest_cpu_iowait_pct"]))
        {
            var expr = query.Expr.Replace("_percent)", "_percent{guest=\"native-b\", side=\"guest\"})", StringComparison.Ordinal);
            var shown = Assert.Single(await Dashboards.ValuesAsync(prometheus, expr, ct));
            Assert.Equal((double)lastRound["metrics"]![metric]!, shown, 3);
        }
    }
}
