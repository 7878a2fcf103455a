using System.Globalization;
using System.Text.Json.Nodes;

namespace Horizon.EndToEnd.Tests;

/// <summary>The `horizon` command as a user runs it.</summary>
[Collection("machine")]
public sealed class CliTests
{
    private static Task<(int Code, string Output)> Horizon(params string[] args) => Horizon(200, args);

    /// <summary>Runs `horizon` with its output to a pipe; <paramref name="columns"/> null leaves COLUMNS unset, as in CI logs.</summary>
    private static Task<(int Code, string Output)> Horizon(int? columns, params string[] args) => HorizonCli.RunAsync(columns, args);

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

    [Theory]
    [InlineData]
    [InlineData("compare")]
    [InlineData("report")]
    [InlineData("export")]
    [InlineData("results")]
    [InlineData("bench", "overhead")]
    [InlineData("run")]
    public async Task Help_renders_for_every_command(params string[] command)
    {
        // Descriptions are Spectre markup: a stray "[95% CI]" in one of them broke `horizon --help` for every command.
        var (code, output) = await Horizon([.. command, "--help"]);
        Assert.True(code == 0, output);
        Assert.Contains("USAGE:", output);
        Assert.DoesNotContain("error", output, StringComparison.OrdinalIgnoreCase);
        if (command.Length == 0)
        {
            Assert.Contains("compare", output);
            Assert.Contains("bench", output);
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
    public async Task Bench_overhead_times_campaigns_of_known_rounds_next_to_hyperfine()
    {
        var (code, output) = await Horizon("bench", "overhead", "--durations", "0.05,0.2", "--rounds", "4");
        Assert.Equal(0, code);
        var lines = output.Split('\n').Where(l => l.StartsWith("guest=native ", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, lines.Count);
        foreach (var (line, seconds) in lines.Zip([0.05, 0.2]))
        {
            double Field(string name) => double.Parse(line.Split(' ').Single(t => t.StartsWith(name + "=", StringComparison.Ordinal))[(name.Length + 1)..].TrimEnd('s', 'm'), CultureInfo.InvariantCulture);
            // Four rounds of `sleep D`: their sum is 4·D plus the fork of sleep; the campaign around them costs more, bounded.
            Assert.InRange(Field("sum_of_rounds"), 4 * seconds, (4 * seconds) + 0.08);
            Assert.InRange(Field("campaign_wall"), Field("sum_of_rounds"), Field("sum_of_rounds") + 20);
            // Per round the harness used to wait ~1.9 s; generous bound, the figure itself belongs to the benchmark.
            Assert.InRange(Field("overhead_per_round"), 0, 500);
            if (File.Exists("/usr/bin/hyperfine"))
            {
                Assert.InRange(Field("hyperfine_mean"), seconds, seconds + 0.02);
            }
        }

        var (bad, error) = await Horizon("bench", "overhead", "--durations", "0.05,-1");
        Assert.NotEqual(0, bad);
        Assert.Contains("--durations", error);
    }

    [Fact]
    public async Task Compare_flags_a_workload_made_slower_on_purpose_and_passes_an_unchanged_one()
    {
        var dir = Directory.CreateTempSubdirectory("horizon-compare-").FullName;
        try
        {
            // The same two experiments (same keys) in two campaigns; the first one's delay comes from a file that the
            // second campaign finds 20 % longer. The second experiment is left alone.
            var delay = Path.Combine(dir, "delay");
            var campaign = Path.Combine(dir, "c.yaml");
            await File.WriteAllTextAsync(campaign, $"""
                campaign: cmp
                rounds: 8
                round_timeout: 30s
                experiments:
                  - workload: command
                    run: "sleep $(cat {delay})"
                  - workload: command
                    run: sleep 0.05
                """, TestContext.Current.CancellationToken);
            var data = Path.Combine(dir, "data");
            await File.WriteAllTextAsync(delay, "0.05", TestContext.Current.CancellationToken);
            Assert.Equal(0, (await Horizon("run", "-c", campaign, "--name", "base", "--data", data)).Code);
            await File.WriteAllTextAsync(delay, "0.06", TestContext.Current.CancellationToken);
            Assert.Equal(0, (await Horizon("run", "-c", campaign, "--name", "slow", "--data", data)).Code);

            var (code, text) = await Horizon("compare", "base", "slow", "--data", data);
            Assert.True(code == 1, text);
            Assert.Contains("REGRESSION", text);
            Assert.Contains("no change", text);

            var (jsonCode, json) = await Horizon("compare", "base", "slow", "--data", data, "-f", "json");
            Assert.Equal(1, jsonCode);
            var experiments = JsonNode.Parse(json)!["experiments"]!.AsArray();
            var slowed = experiments.Single(e => ((string)e!["key"]!).Contains("cat", StringComparison.Ordinal))!;
            Assert.Equal("regression", (string)slowed["verdict"]!);
            Assert.InRange((double)slowed["ratio"]!, 1.12, 1.28);
            Assert.True((double)slowed["ratio_ci95_low"]! > 1);
            Assert.True((double)slowed["p_value"]! < 0.05);
            var same = experiments.Single(e => !((string)e!["key"]!).Contains("cat", StringComparison.Ordinal))!;
            Assert.Equal("no-change", (string)same["verdict"]!);
            Assert.InRange((double)same["ratio"]!, 0.95, 1.05);
            // "no change" holds only because these rounds could have seen a 5 % change.
            Assert.True((double)same["minimum_detectable_change"]! <= 0.05);

            // The other way round it is an improvement: no regression, exit 0; a run against itself changes nothing.
            Assert.Equal(0, (await Horizon("compare", "slow", "base", "--data", data)).Code);
            var (selfCode, self) = await Horizon("compare", "base", "base", "--data", data, "-f", "markdown");
            Assert.Equal(0, selfCode);
            Assert.Contains("| experiment | A mean |", self);
            Assert.DoesNotContain("REGRESSION", self);

            // An export (e.g. from another machine) compares like a stored campaign.
            Assert.Equal(0, (await Horizon("export", "--campaign", "base", "-f", "json", "-o", Path.Combine(dir, "out"), "--data", data)).Code);
            var exported = Directory.GetFiles(Path.Combine(dir, "out"), "*.json").Single();
            Assert.Equal(1, (await Horizon("compare", exported, "slow", "--data", data)).Code);
            // A threshold above the change: the slowdown is found but does not count as a regression.
            var (lenient, lenientText) = await Horizon("compare", "base", "slow", "--data", data, "--threshold", "40%");
            Assert.Equal(0, lenient);
            Assert.Contains("below threshold", lenientText);

            // Careless input: a campaign that does not exist, a file that is not an export, a threshold that is not a number.
            var (missing, missingText) = await Horizon("compare", "base", "nope", "--data", data);
            Assert.Equal(2, missing);
            Assert.Contains("no campaign 'nope'", missingText);
            var (notExport, notExportText) = await Horizon("compare", campaign, "slow", "--data", data);
            Assert.Equal(2, notExport);
            Assert.Contains("not JSON", notExportText);
            var (badThreshold, badText) = await Horizon("compare", "base", "slow", "--data", data, "--threshold", "five");
            Assert.NotEqual(0, badThreshold);
            Assert.Contains("--threshold", badText);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
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

            // hyperfine's JSON layout: its scripts read "results"[].command/mean/stddev/times; the times are the rounds.
            var hyperfine = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(data, "out", "cli.hyperfine.json"), TestContext.Current.CancellationToken))!;
            var result = hyperfine["results"]!.AsArray().Single()!;
            var times = result["times"]!.AsArray().Select(t => (double)t!).ToArray();
            Assert.Equal(3, times.Length);
            Assert.All(times, t => Assert.InRange(t, 0.05, 0.09));
            Assert.Equal(times.Average(), (double)result["mean"]!, 9);
            Assert.Contains("command run=sleep 0.05", (string)result["command"]!);
            Assert.Equal([0, 0, 0], result["exit_codes"]!.AsArray().Select(x => (int)x!));
            var markdown = await File.ReadAllTextAsync(Path.Combine(data, "out", "cli.md"), TestContext.Current.CancellationToken);
            Assert.Contains("| native | native | command | run=sleep 0.05 | default | 3 | 0 |", markdown);
            (code, output) = await Horizon("export", "--data", data, "-f", "xml");
            Assert.NotEqual(0, code);
            Assert.Contains("hyperfine, markdown", output);
            // Several campaigns read as one study: named, or by a glob; the files carry both names.
            Assert.Equal(0, (await Horizon("run", "-c", campaign, "--data", data, "--name", "cli-2")).Code);
            (code, output) = await Horizon("results", "--data", data, "--campaign", "cli", "--campaign", "cli-2");
            Assert.Equal(0, code);
            Assert.Contains("campaign cli+cli-2", output);
            (code, output) = await Horizon("export", "--data", data, "--campaign", "cli*", "-f", "csv", "-o", Path.Combine(data, "merged"));
            Assert.Equal(0, code);
            Assert.Equal(7, File.ReadAllLines(Path.Combine(data, "merged", "cli+cli-2.rounds.csv")).Length);
            (code, output) = await Horizon("results", "--data", data, "--campaign", "zz*");
            Assert.Equal(2, code);
            Assert.Contains("no campaign 'zz*'", output);
            (code, output) = await Horizon("results", "--data", data, "--campaign", "nope");
            Assert.Equal(2, code);
            Assert.Contains("no campaign 'nope'", output);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task Version_names_the_commit_it_was_built_from()
    {
        var (code, output) = await Horizon("--version");
        Assert.Equal(0, code);
        Assert.Matches(@"^\d+\.\d+\.\d+ \(commit [0-9a-f]{40}\)$", output.Trim());
    }

    [Theory]
    [InlineData("../../x")]
    [InlineData("a b")]
    public async Task A_campaign_name_the_api_would_refuse_is_refused_by_the_command_line_before_anything_runs(string name)
    {
        var data = Directory.CreateTempSubdirectory("horizon-cli-name-").FullName;
        try
        {
            var (code, output) = await Horizon("run", "--name", name, "--data", data);
            Assert.Equal(2, code);
            Assert.Contains("--name", output, StringComparison.Ordinal);
            Assert.Contains("not a campaign name", output, StringComparison.Ordinal);
            Assert.False(File.Exists(Path.Combine(data, "horizon.db")), "a store was created for a refused run");
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task A_damaged_or_empty_store_is_named_with_what_to_do_on_one_unbroken_line()
    {
        // A deep directory makes the message longer than 80 columns: piped output must keep it on one line.
        var data = Directory.CreateTempSubdirectory("horizon-cli-store-").FullName;
        var deep = Path.Combine(data, "a-rather-long-directory-name-for-the-results", "of-this-machine");
        Directory.CreateDirectory(deep);
        try
        {
            var store = Path.Combine(deep, "horizon.db");
            await File.WriteAllTextAsync(store, "this is not an SQLite database, but a file someone copied here by mistake\n", TestContext.Current.CancellationToken);
            var (code, output) = await Horizon((int?)null, "results", "--data", deep);
            Assert.Equal(2, code);
            var line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.Contains("error:", StringComparison.Ordinal));
            Assert.True(line.Length > 80, line);
            Assert.Contains(store, line, StringComparison.Ordinal);
            Assert.Contains("--data", line, StringComparison.Ordinal);
            Assert.DoesNotContain("Unhandled", output, StringComparison.Ordinal);

            File.Delete(store);
            await File.WriteAllBytesAsync(store, [], TestContext.Current.CancellationToken);
            (code, output) = await Horizon((int?)null, "results", "--data", deep);
            Assert.Equal(2, code);
            Assert.Contains("holds no campaign yet", output, StringComparison.Ordinal);
            Assert.DoesNotContain("no campaign ''", output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }
}
