using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Horizon.Aspire.Tests;

/// <summary>
/// Every dashboard JSON must satisfy Grafana's published TypeScript types (npm @grafana/schema, strict tsc): the check
/// in tests/dashboards, run first on a deliberately broken copy (it must fail and name the field), then on the real ones.
/// </summary>
[Trait("needs", "stack")]
public sealed class DashboardSchemaTests
{
    private static readonly string Checker = Path.Combine(Path.GetDirectoryName(Dashboards.Directory())!, "tests", "dashboards");

    [Fact]
    public async Task Every_dashboard_type_checks_against_grafana_schema_and_a_broken_one_does_not()
    {
        var ct = TestContext.Current.CancellationToken;
        if (!Directory.Exists(Path.Combine(Checker, "node_modules", "@grafana", "schema")))
        {
            var (installed, log) = await RunAsync("npm", ["ci", "--no-audit", "--no-fund"], ct);
            Assert.True(installed == 0, "npm ci failed:\n" + log);
        }

        var broken = Directory.CreateTempSubdirectory("horizon-dashboards-").FullName;
        try
        {
            var d = JsonNode.Parse(File.ReadAllText(Path.Combine(Dashboards.Directory(), "horizon-testbed.json")))!;
            d["graphTooltip"] = "shared";
            var panel = d["panels"]![0]!.AsObject();
            panel["titel"] = panel["title"]!.DeepClone();
            panel.Remove("title");
            File.WriteAllText(Path.Combine(broken, "broken.json"), d.ToJsonString());
            var (_, generated) = await RunAsync("node", ["generate.mjs", broken], ct);
            var (failed, errors) = await RunAsync("npx", ["tsc", "--noEmit", "-p", "."], ct);
            Assert.True(failed != 0, "tsc accepted a dashboard with a string graphTooltip:\n" + generated + errors);
            Assert.Contains("DashboardCursorSync", errors, StringComparison.Ordinal);
            Assert.Contains("'\"titel\"'", errors, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(broken, recursive: true);
        }

        var (status, output) = await RunAsync("npm", ["run", "--silent", "check"], ct);
        Assert.True(status == 0, "the dashboards do not satisfy @grafana/schema:\n" + output);
        foreach (var file in Directory.GetFiles(Dashboards.Directory(), "*.json"))
        {
            Assert.Contains(Path.GetFileName(file), output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_provisioning_names_the_datasource_uid_every_panel_uses()
    {
        var provisioning = File.ReadAllText(Path.Combine(Dashboards.Directory(), "provisioning", "datasources", "horizon.yaml"));
        Assert.Contains("uid: prometheus", provisioning, StringComparison.Ordinal);
        foreach (var file in Directory.GetFiles(Dashboards.Directory(), "*.json"))
        {
            var d = JsonNode.Parse(File.ReadAllText(file))!;
            Assert.False(string.IsNullOrEmpty((string?)d["uid"]), file);
            foreach (var panel in d["panels"]!.AsArray())
            {
                Assert.Equal("prometheus", (string?)panel!["datasource"]!["uid"]);
                Assert.All(panel["targets"]!.AsArray(), t => Assert.Equal("prometheus", (string?)t!["datasource"]!["uid"]));
            }
        }
    }

    private static async Task<(int Status, string Output)> RunAsync(string file, string[] args, CancellationToken ct)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = Checker, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync(ct);
        var stderr = p.StandardError.ReadToEndAsync(ct);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(TimeSpan.FromMinutes(5));
        try
        {
            await p.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw;
        }

        return (p.ExitCode, await stdout + await stderr);
    }
}
