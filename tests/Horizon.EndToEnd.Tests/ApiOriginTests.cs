using System.Net;
using System.Text;
using Horizon.Api;

namespace Horizon.EndToEnd.Tests;

public sealed class ApiOriginRuleTests
{
    private static readonly ApiSecurity Open = ApiSecurity.Create("127.0.0.1", 5080, null, ["lab-controller.example, Other.Example"]);

    [Theory]
    [InlineData("127.0.0.1:5080")]
    [InlineData("127.9.8.7")]
    [InlineData("localhost:5080")]
    [InlineData("LOCALHOST")]
    [InlineData("api.localhost:5080")]
    [InlineData("[::1]:5080")]
    [InlineData("lab-controller.example:5080")]
    [InlineData("other.example")]
    public void Loopback_and_configured_names_are_served_without_a_token(string host) => Assert.Null(Open.Refusal(host, null, null));

    [Theory]
    [InlineData("attacker.example:5080")]
    [InlineData("127.0.0.1.nip.io:5080")]
    [InlineData("localhost.attacker.example")]
    [InlineData("0.0.0.0:5080")]
    [InlineData("10.0.0.1:5080")]
    [InlineData("user@localhost:5080")]
    [InlineData("localhost/x")]
    [InlineData("")]
    [InlineData(null)]
    public void Foreign_or_malformed_hosts_are_refused_without_a_token(string? host) => Assert.NotNull(Open.Refusal(host, null, null));

    [Fact]
    public void With_a_token_any_host_is_served_but_cross_site_requests_never_are()
    {
        var guarded = ApiSecurity.Create("0.0.0.0", 5080, "0123456789abcdef-secret");
        Assert.Null(guarded.Refusal("controller.lab.example:5080", null, null));
        Assert.Null(guarded.Refusal("controller.lab.example:5080", "http://controller.lab.example:5080", "same-origin"));
        Assert.Contains("cross-origin", guarded.Refusal("controller.lab.example:5080", "http://attacker.example", null));
        Assert.Contains("cross-site", guarded.Refusal("controller.lab.example:5080", null, "cross-site"));
        Assert.Contains("cross-origin", Open.Refusal("127.0.0.1:5080", "http://attacker.example:5080", null));
        Assert.Contains("cross-origin", Open.Refusal("127.0.0.1:5080", "null", null));
        Assert.Null(Open.Refusal("127.0.0.1:5080", "http://127.0.0.1:5080", null));
    }
}

/// <summary>A loopback API without a token (the default of `horizon serve`) as a web page in the user's browser would reach it.</summary>
[Collection("machine")]
public sealed class ApiOriginTests : IAsyncLifetime
{
    private ApiHost api = null!;

    public async ValueTask InitializeAsync() => api = await ApiHost.StartAsync(ApiSecurity.Create("127.0.0.1", 0, null));

    public ValueTask DisposeAsync() => api.DisposeAsync();

    private async Task<(HttpStatusCode Status, string Body)> Submit(string body, string? host = null, string? origin = null)
    {
        using var m = new HttpRequestMessage(HttpMethod.Post, "api/campaigns") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (host is not null)
        {
            m.Headers.Host = host;
        }

        if (origin is not null)
        {
            m.Headers.Add("Origin", origin);
        }

        using var r = await api.Http.SendAsync(m, TestContext.Current.CancellationToken);
        return (r.StatusCode, await r.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_rebound_host_name_or_a_foreign_origin_is_refused_and_queues_nothing()
    {
        var (status, body) = await Submit("""{"preset":"quick"}""", host: $"attacker.example:{api.Port}", origin: $"http://attacker.example:{api.Port}");
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("attacker.example", body, StringComparison.Ordinal);

        (status, _) = await Submit("""{"preset":"quick"}""", host: $"attacker.example:{api.Port}");
        Assert.Equal(HttpStatusCode.Forbidden, status);

        (status, body) = await Submit("""{"preset":"quick"}""", origin: "http://attacker.example");
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("cross-origin", body, StringComparison.Ordinal);

        using (var get = new HttpRequestMessage(HttpMethod.Get, "api/campaigns"))
        {
            get.Headers.Host = "rebind.attacker.example";
            Assert.Equal(HttpStatusCode.Forbidden, (await api.Http.SendAsync(get, TestContext.Current.CancellationToken)).StatusCode);
        }

        Assert.Empty(api.Desk.All);

        // The same request addressed to the loopback name is processed (a wrong preset: refused by the parser, not the guard).
        (status, body) = await Submit("""{"preset":"no-such-preset"}""", host: $"localhost:{api.Port}");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("no-such-preset", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_sweep_beyond_the_campaign_limit_is_refused_by_the_api_with_its_field_and_queues_nothing()
    {
        var values = "[" + string.Join(", ", Enumerable.Range(0, 1000).Select(i => $"v{i}")) + "]";
        var campaign = $"campaign: huge\nexperiments:\n  - workload: command\n    run: \"echo {{a}} {{b}}\"\n    sweep:\n      a: {values}\n      b: {values}\n";
        var (status, body) = await Submit(System.Text.Json.JsonSerializer.Serialize(new { campaign }));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("experiments[0].sweep.b", body, StringComparison.Ordinal);
        Assert.Contains("at most 10000", body, StringComparison.Ordinal);
        Assert.Empty(api.Desk.All);
    }

    [Fact]
    public async Task Duplicate_json_members_are_refused_not_silently_resolved()
    {
        var (status, body) = await Submit("""{"preset":"no-such-preset","preset":"quick"}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("preset", body, StringComparison.Ordinal);
        Assert.Contains("duplicate", body, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(api.Desk.All);
    }
}
