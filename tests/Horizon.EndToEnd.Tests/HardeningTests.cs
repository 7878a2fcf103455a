using Horizon.Scheduler;

namespace Horizon.EndToEnd.Tests;

/// <summary>What hostile and careless use found, each held by a real run: a real guest, real probes, real files.</summary>
[Collection("machine")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class HardeningTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_metric_regex_that_backtracks_without_end_fails_its_rounds_and_the_campaign_goes_on_and_cleans_up()
    {
        await using var lab = await Lab.StartAsync();
        var (outcome, results) = await lab.RunAsync("""
            campaign: regex-timeout
            rounds: 2
            round_timeout: 30s
            experiments:
              - workload: command
                run: "printf 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\n'"
                metrics: "x=^(a+)+$"
              - workload: command
                run: sleep 0.1
            """, limit: TimeSpan.FromMinutes(3));
        Assert.Equal(2, results.Length);
        var backtracking = results.Single(e => e.Parameters.ContainsKey("metrics") && e.Parameters["metrics"].Length > 0);
        // Failed rounds are retried up to the policy's limit; every one of them fails the same way, with its reason.
        Assert.InRange(backtracking.Rounds.Length, 2, 10);
        Assert.All(backtracking.Rounds, r =>
        {
            Assert.False(r.Measured);
            Assert.Contains("metric 'x'", r.Reason, StringComparison.Ordinal);
            Assert.Contains("gave up", r.Reason, StringComparison.Ordinal);
            // The probes timed the round all the same: its duration is kept beside the reason.
            Assert.InRange(r.Seconds!.Value, 0, 5);
        });

        var sleeping = results.Single(e => e != backtracking);
        Assert.Equal(2, sleeping.Rounds.Count(r => r.Measured));
        Assert.All(sleeping.Rounds, r => Assert.InRange(r.Seconds!.Value, 0.1, 0.2));
        Assert.Equal(2, outcome.Experiments.Length);

        // Cleanup ran for both experiments: no work directory of theirs is left in the guest.
        foreach (var e in results)
        {
            Assert.False(Directory.Exists($"/var/tmp/horizon-tests/{e.Id:N}"), $"work directory of {e.Key} left behind");
        }
    }

    [Fact]
    public async Task The_work_directory_and_the_files_with_probe_tags_are_readable_by_the_guest_user_only()
    {
        await using var lab = await Lab.StartAsync();
        var (outcome, results) = await lab.RunAsync("""
            campaign: private-workdir
            rounds: 2
            round_timeout: 30s
            experiments:
              - workload: command
                run: "stat -c '%n=%a' . rounds.sh run.log"
                metrics: "dir=^\\.=([0-7]+)$\nscript=^rounds\\.sh=([0-7]+)$\nlog=^run\\.log=([0-7]+)$"
            """);
        Assert.True(outcome.AllCompleted, string.Join("; ", outcome.Experiments.Select(x => x.Note)));
        var e = Assert.Single(results);
        Assert.All(e.Rounds, r =>
        {
            Assert.True(r.Measured, r.Reason);
            Assert.Equal(700, r.Metrics!["dir"]);
            Assert.Equal(600, r.Metrics["script"]);
            Assert.Equal(600, r.Metrics["log"]);
        });
    }

    [Fact]
    public async Task Files_written_over_ssh_are_private_and_their_directory_too()
    {
        await using var sshd = await Sshd.StartAsync();
        await using var ssh = new SshTransport("g", sshd.Spec());
        var directory = $"/var/tmp/horizon-tests/ssh-private-{Guid.NewGuid():N}";
        try
        {
            await ssh.WriteFileAsync($"{directory}/rounds.sh", "tags\n", Ct);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(directory));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode($"{directory}/rounds.sh"));
            Assert.Equal("tags\n", await File.ReadAllTextAsync($"{directory}/rounds.sh", Ct));

            // Written again (a later block), the file stays private and holds only the new content.
            await ssh.WriteFileAsync($"{directory}/rounds.sh", "new\n", Ct);
            Assert.Equal("new\n", await File.ReadAllTextAsync($"{directory}/rounds.sh", Ct));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode($"{directory}/rounds.sh"));
        }
        finally
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }
}
