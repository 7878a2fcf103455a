using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Horizon.Api;

namespace Horizon.EndToEnd.Tests;

public sealed class ApiSecurityTests
{
    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("10.1.2.3")]
    [InlineData("::")]
    public void Binding_beyond_loopback_without_a_token_is_refused_with_the_reason(string bind)
    {
        var e = Assert.Throws<ArgumentException>(() => ApiSecurity.Create(bind, 5080, null));
        Assert.Contains("token", e.Message, StringComparison.Ordinal);
        Assert.Contains(bind, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Loopback_needs_no_token_and_short_tokens_or_bad_addresses_are_refused()
    {
        Assert.Null(ApiSecurity.Create("127.0.0.1", 0, null).Token);
        Assert.Null(ApiSecurity.Create("::1", 0, "  ").Token);
        Assert.Throws<ArgumentException>(() => ApiSecurity.Create("0.0.0.0", 0, "short"));
        Assert.Throws<ArgumentException>(() => ApiSecurity.Create("localhost:80", 0, null));
        Assert.Throws<ArgumentException>(() => ApiSecurity.Create("127.0.0.1", 70000, null));
    }

    [Fact]
    public void Only_the_exact_bearer_token_is_allowed()
    {
        var s = ApiSecurity.Create("0.0.0.0", 0, "0123456789abcdef-secret");
        Assert.True(s.Allows("Bearer 0123456789abcdef-secret"));
        Assert.True(s.Allows("bearer 0123456789abcdef-secret "));
        Assert.False(s.Allows(null));
        Assert.False(s.Allows("Bearer 0123456789abcdef-secreT"));
        Assert.False(s.Allows("Bearer 0123456789abcdef-secret2"));
        Assert.False(s.Allows("Basic 0123456789abcdef-secret"));
        Assert.False(s.Allows("0123456789abcdef-secret"));
    }
}

/// <summary>The real API (Kestrel on a free port) in front of a real embedded controller running real rounds.</summary>
[Collection("machine")]
public sealed class ApiTests : IAsyncLifetime
{
    private const string Token = "test-token-0123456789";
    private ApiHost api = null!;

    // Bound to every address, so a token is required; the test talks to it over loopback only.
    public async ValueTask InitializeAsync() => api = await ApiHost.StartAsync(ApiSecurity.Create("0.0.0.0", 0, Token));

    public ValueTask DisposeAsync() => api.DisposeAsync();

    private static HttpRequestMessage Post(object? body, string? token = Token, string contentType = "application/json")
    {
        var m = new HttpRequestMessage(HttpMethod.Post, "api/campaigns")
        {
            Content = new StringContent(body is string s ? s : System.Text.Json.JsonSerializer.Serialize(body), Encoding.UTF8, contentType),
        };
        if (token is not null)
        {
            m.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return m;
    }

    [Fact]
    public async Task Requests_without_the_token_are_refused_and_health_is_open()
    {
        var ct = TestContext.Current.CancellationToken;
        Assert.Equal(HttpStatusCode.OK, (await api.Http.GetAsync("healthz", ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.Http.GetAsync("api/campaigns", ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.Http.SendAsync(Post(new { preset = "quick" }, token: null), ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.Http.SendAsync(Post(new { preset = "quick" }, token: "test-token-0123456780"), ct)).StatusCode);

        // Nothing was queued by the refused requests.
        Assert.Empty(api.Desk.All);
    }

    [Fact]
    public async Task Bad_submissions_get_clear_errors_and_queue_nothing()
    {
        var ct = TestContext.Current.CancellationToken;
        async Task<(HttpStatusCode, JsonNode?)> Send(HttpRequestMessage m)
        {
            using var r = await api.Http.SendAsync(m, ct);
            var text = await r.Content.ReadAsStringAsync(ct);
            return (r.StatusCode, text.Length > 0 ? JsonNode.Parse(text) : null);
        }

        var (status, body) = await Send(Post(new { campaign = "campaign: x\nrounds: 3\nexperiments:\n  - workload: nope\n" }));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("campaign", (string?)body!["file"]);
        Assert.Equal(4, (int?)body["line"]);
        Assert.Equal("experiments[0].workload", (string?)body["field"]);

        (status, body) = await Send(Post(new { testbed = "name: t\nhosts:\n  - name: h\n    platfrom: native\n" }));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.StartsWith("testbed:", (string?)body!["error"], StringComparison.Ordinal);

        (status, _) = await Send(Post("not json", contentType: "text/plain"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, status);

        (status, body) = await Send(Post("{\"preset\": \"quick\", \"shell\": \"rm -rf /\"}"));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("shell", (string?)body!["error"], StringComparison.Ordinal);

        (status, _) = await Send(Post(new { preset = "everything" }));
        Assert.Equal(HttpStatusCode.BadRequest, status);

        (status, _) = await Send(Post(new { preset = "quick", name = "../../etc/passwd" }));
        Assert.Equal(HttpStatusCode.BadRequest, status);

        (status, _) = await Send(Post(new { campaign = new string('#', (int)ControllerApi.MaxBodyBytes + 10) }));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);

        var get = new HttpRequestMessage(HttpMethod.Get, "api/campaigns/nothing-here");
        get.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        (status, _) = await Send(get);
        Assert.Equal(HttpStatusCode.NotFound, status);

        Assert.Empty(api.Desk.All);
    }

    [Fact]
    public async Task A_submitted_campaign_runs_to_the_end_and_its_results_are_served()
    {
        var ct = TestContext.Current.CancellationToken;
        api.Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        var campaign = "campaign: api-run\nrounds: 3\nexperiments:\n  - workload: command\n    run: sleep 0.25\n";
        using (var r = await api.Http.SendAsync(Post(new { campaign }), ct))
        {
            Assert.Equal(HttpStatusCode.Accepted, r.StatusCode);
        }

        // The same name again while it runs is a conflict, not a second run.
        using (var again = await api.Http.SendAsync(Post(new { campaign }), ct))
        {
            Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        }

        JsonNode? view = null;
        for (var i = 0; i < 120; i++)
        {
            view = await api.Http.GetFromJsonAsync<JsonNode>("api/campaigns/api-run", ct);
            if ((string?)view!["state"] is not ("Queued" or "Running"))
            {
                break;
            }

            await Task.Delay(500, ct);
        }

        Assert.Equal("Completed", (string?)view!["state"]);
        Assert.Equal(3, (int?)view["measured"]);
        // `run --controller` prints the log as it grows: one line per round, as `horizon run` prints them.
        var roundLines = view["log"]!.AsArray().Select(l => (string)l!).Where(l => l.Contains("command native round ", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, roundLines.Count);
        Assert.All(roundLines, l => Assert.Matches(@"round \d: 0\.2[5-9]\d\d s  n=\d/3 mean=", l));
        var results = await api.Http.GetFromJsonAsync<JsonNode>("api/campaigns/api-run/results", ct);
        var experiment = Assert.Single(results!["experiments"]!.AsArray());
        var rounds = experiment!["rounds"]!.AsArray();
        Assert.Equal(3, rounds.Count);
        Assert.All(rounds, r => Assert.InRange((double)r!["seconds"]!, 0.25, 0.30));
        var csv = await api.Http.GetStringAsync("api/campaigns/api-run/results?format=rounds.csv", ct);
        Assert.Equal(4, csv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal(HttpStatusCode.BadRequest, (await api.Http.GetAsync("api/campaigns/api-run/results?format=xml", ct)).StatusCode);

        // The command line reads the same campaign from the controller: results, export and compare.
        var url = $"http://127.0.0.1:{api.Port}";
        var (code, output) = await Cli("results", "--controller", url, "--token", Token, "--campaign", "api-run");
        Assert.True(code == 0, output);
        Assert.Contains("campaign api-run", output, StringComparison.Ordinal);
        Assert.Contains("run=sleep 0.25", output, StringComparison.Ordinal);
        var outDir = Directory.CreateTempSubdirectory("horizon-remote-export-").FullName;
        try
        {
            (code, output) = await Cli("export", "--controller", url, "--token", Token, "--campaign", "api-run", "-f", "csv", "-o", outDir);
            Assert.True(code == 0, output);
            Assert.Equal(4, File.ReadAllLines(Path.Combine(outDir, "api-run.rounds.csv")).Length);
        }
        finally
        {
            Directory.Delete(outDir, recursive: true);
        }

        (code, output) = await Cli("compare", "api-run", "api-run", "--controller", url, "--token", Token);
        Assert.True(code == 0, output);
        Assert.Contains("no change", output, StringComparison.Ordinal);
        (code, output) = await Cli("results", "--controller", url, "--token", "wrong-token-0123456789", "--campaign", "api-run");
        Assert.Equal(2, code);
        Assert.Contains("401", output, StringComparison.Ordinal);
    }

    private static Task<(int Code, string Output)> Cli(params string[] args) => HorizonCli.RunAsync(200, args);
}
