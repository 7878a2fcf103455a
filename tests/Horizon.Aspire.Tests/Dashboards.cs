using System.Text.Json.Nodes;

namespace Horizon.Aspire.Tests;

/// <summary>The repository's Grafana dashboards, read as Grafana would: every panel target's PromQL.</summary>
internal static class Dashboards
{
    public sealed record PanelQuery(string Dashboard, string Panel, string Expr);

    public static string Directory()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Horizon.Aspire.sln")))
        {
            dir = dir.Parent;
        }

        return Path.Combine(dir?.FullName ?? throw new InvalidOperationException("repository not found"), "dashboards");
    }

    public static List<PanelQuery> Queries()
    {
        var list = new List<PanelQuery>();
        foreach (var file in System.IO.Directory.GetFiles(Directory(), "*.json"))
        {
            var d = JsonNode.Parse(File.ReadAllText(file))!;
            foreach (var panel in d["panels"]!.AsArray())
            {
                foreach (var target in panel!["targets"]!.AsArray())
                {
                    list.Add(new PanelQuery(Path.GetFileName(file), (string)panel["title"]!, (string)target!["expr"]!));
                }
            }
        }

        return list;
    }

    /// <summary>
    /// What Grafana sends for a panel: its template variables at "All" (the regex .*) and the rate window macro at a
    /// width that spans the run just made.
    /// </summary>
    public static string Expand(string expr) => expr
        .Replace("$__rate_interval", "5m", StringComparison.Ordinal)
        .Replace("$__interval", "30s", StringComparison.Ordinal)
        .Replace("$testbed", ".*", StringComparison.Ordinal)
        .Replace("$campaign", ".*", StringComparison.Ordinal)
        .Replace("$workload", ".*", StringComparison.Ordinal);

    public static async Task<(bool Ok, int Series, string? Error)> QueryAsync(HttpClient prometheus, string expr, CancellationToken ct)
    {
        var expanded = Expand(expr);
        Assert.DoesNotContain("$", expanded, StringComparison.Ordinal);
        using var response = await prometheus.GetAsync($"/api/v1/query?query={Uri.EscapeDataString(expanded)}", ct);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(ct))!;
        if ((string?)body["status"] != "success")
        {
            return (false, 0, $"{(string?)body["errorType"]}: {(string?)body["error"]}");
        }

        return (true, body["data"]!["result"]!.AsArray().Count, null);
    }

    /// <summary>The values of an instant query's series (each a number), after the same expansion as <see cref="QueryAsync"/>.</summary>
    public static async Task<List<double>> ValuesAsync(HttpClient prometheus, string expr, CancellationToken ct)
    {
        var expanded = Expand(expr);
        using var response = await prometheus.GetAsync($"/api/v1/query?query={Uri.EscapeDataString(expanded)}", ct);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(ct))!;
        Assert.True((string?)body["status"] == "success", $"{expanded}: {body.ToJsonString()}");
        return [.. body["data"]!["result"]!.AsArray().Select(r => double.Parse((string)r!["value"]![1]!, System.Globalization.CultureInfo.InvariantCulture))];
    }
}
