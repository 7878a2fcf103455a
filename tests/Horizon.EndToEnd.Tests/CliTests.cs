using System.Diagnostics;

namespace Horizon.EndToEnd.Tests;

/// <summary>The `horizon` command as a user runs it.</summary>
[Collection("machine")]
public sealed class CliTests
{
    private static async Task<(int Code, string Output)> Horizon(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "horizon.dll"));
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["COLUMNS"] = "200";
        using var p = Process.Start(start)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
        return (p.ExitCode, await output + await error);
    }

    [Fact]
    public async Task Testbed_check_names_the_file_line_and_field_of_a_mistake()
    {
        var file = Path.Combine(Path.GetTempPath(), $"bad-testbed-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(file, "testbed: x\nhosts:\n  - name: h\nguests:\n  - name: g\n    host: h\n    vcpus: -1\n", TestContext.Current.CancellationToken);
        try
        {
            var (code, output) = await Horizon("testbed", "check", "-t", file);
            Assert.Equal(2, code);
            Assert.Contains($"{file}:7:", output.Replace("\n", ""));
            Assert.Contains("guests[0].vcpus", output.Replace("\n", ""));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Bench_scale_records_every_simulated_round()
    {
        var (code, output) = await Horizon("bench", "scale", "--guests", "50,150", "--rounds", "2", "--round-seconds", "0.5");
        Assert.Equal(0, code);
        Assert.Contains("guests=50 probes_sent=200 accepted=200 lost=0 rounds_recorded=100/100", output);
        Assert.Contains("guests=150 probes_sent=600 accepted=600 lost=0 rounds_recorded=300/300", output);
    }

    [Fact]
    public async Task Testbed_check_reaches_the_default_guest_and_its_tools()
    {
        var (code, output) = await Horizon("testbed", "check");
        Assert.Equal(0, code);
        Assert.Contains("testbed ready", output);
        Assert.Contains("kernel", output);
    }

    [Fact]
    public async Task Run_results_and_export_work_from_the_command_line()
    {
        var data = Path.Combine(Path.GetTempPath(), $"horizon-cli-{Guid.NewGuid():N}");
        var campaign = Path.Combine(data, "c.yaml");
        Directory.CreateDirectory(data);
        await File.WriteAllTextAsync(campaign, "campaign: cli\nrounds: 3\nexperiments:\n  - workload: command\n    run: sleep 0.05\n", TestContext.Current.CancellationToken);
        try
        {
            var (code, output) = await Horizon("run", "-c", campaign, "--data", data);
            Assert.True(code == 0, output);
            Assert.Contains("1 (baseline)", output);
            Assert.Contains("kernel receive timestamps", output.Replace("\n", ""));
            (code, output) = await Horizon("results", "--data", data);
            Assert.Equal(0, code);
            Assert.Contains("command", output);
            (code, output) = await Horizon("export", "--data", data, "-o", Path.Combine(data, "out"));
            Assert.Equal(0, code);
            Assert.True(File.Exists(Path.Combine(data, "out", "cli.json")));
            Assert.Equal(4, File.ReadAllLines(Path.Combine(data, "out", "cli.rounds.csv")).Length);
            (code, output) = await Horizon("results", "--data", data, "--campaign", "nope");
            Assert.Equal(2, code);
            Assert.Contains("no campaign 'nope'", output);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }
}
