using Horizon.Config;
using Horizon.Scheduler;

namespace Horizon.EndToEnd.Tests;

[Collection("machine")]
public sealed class SshTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Runs_commands_streams_output_and_uploads_files_over_a_pinned_session()
    {
        await using var sshd = await Sshd.StartAsync();
        await using var ssh = new SshTransport("g", sshd.Spec());
        var lines = new List<string>();
        var result = await ssh.RunAsync("echo one; echo two; echo oops >&2; exit 7", TimeSpan.FromSeconds(30), lines.Add, Ct);
        Assert.Equal(7, result.ExitCode);
        Assert.Equal(["one", "two"], lines);
        Assert.Contains("oops", result.Stderr);
        var path = $"/var/tmp/horizon-tests/ssh-{Guid.NewGuid():N}/file.txt";
        await ssh.WriteFileAsync(path, "payload 'quoted' \\x00\n", Ct);
        var back = await ssh.RunAsync($"cat {path}; rm -rf {Path.GetDirectoryName(path)}", TimeSpan.FromSeconds(30), null, Ct);
        Assert.Equal("payload 'quoted' \\x00\n", back.Stdout);
        var slow = await ssh.RunAsync("sleep 5", TimeSpan.FromMilliseconds(500), null, Ct);
        Assert.True(slow.TimedOut);
    }

    [Fact]
    public async Task A_host_key_that_does_not_match_the_pin_is_refused_with_a_clear_error()
    {
        await using var sshd = await Sshd.StartAsync();
        await using var ssh = new SshTransport("g", sshd.Spec(fingerprint: "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
        var e = await Assert.ThrowsAsync<HostKeyMismatchException>(() => ssh.RunAsync("true", TimeSpan.FromSeconds(30), null, Ct));
        Assert.Contains(sshd.Fingerprint, e.Message);
        Assert.Contains("refusing to connect", e.Message);
    }

    [Fact]
    public async Task A_known_hosts_file_pins_the_key_too()
    {
        await using var sshd = await Sshd.StartAsync();
        var knownHosts = Path.Combine(sshd.Directory, "known_hosts");
        await File.WriteAllTextAsync(knownHosts, $"[127.0.0.1]:{sshd.Port} {sshd.HostPublicKey}\n", Ct);
        await using (var ok = new SshTransport("g", sshd.Spec(knownHosts: knownHosts)))
        {
            Assert.Equal(0, (await ok.RunAsync("true", TimeSpan.FromSeconds(30), null, Ct)).ExitCode);
        }

        await File.WriteAllTextAsync(knownHosts, $"[127.0.0.1]:{sshd.Port + 1} {sshd.HostPublicKey}\n", Ct);
        await using var other = new SshTransport("g", sshd.Spec(knownHosts: knownHosts));
        await Assert.ThrowsAsync<HostKeyMismatchException>(() => other.RunAsync("true", TimeSpan.FromSeconds(30), null, Ct));
    }

    [Fact]
    public async Task A_dropped_session_is_reconnected()
    {
        await using var sshd = await Sshd.StartAsync();
        await using var ssh = new SshTransport("g", sshd.Spec());
        Assert.Equal(0, (await ssh.RunAsync("true", TimeSpan.FromSeconds(30), null, Ct)).ExitCode);
        await sshd.CutConnectionsAsync();
        await Task.Delay(300, Ct);
        CommandResult? result = null;
        for (var i = 0; i < 3 && result is null; i++)
        {
            try
            {
                result = await ssh.RunAsync("echo back", TimeSpan.FromSeconds(30), null, Ct);
            }
            catch (IOException)
            {
                // The first command may notice the cut; the next one reconnects.
            }
        }

        Assert.Equal("back\n", result!.Stdout);
        Assert.Equal(1, ssh.Reconnects);
    }

    [Fact]
    public async Task A_campaign_on_an_ssh_guest_is_measured_by_probes_and_survives_a_cut_connection()
    {
        await using var sshd = await Sshd.StartAsync();
        await using var lab = await Lab.StartAsync();
        var testbed = TestbedFile.Parse("ssh-testbed.yaml", $"""
            testbed: ssh
            hosts:
              - name: h
                platform: native
                transport: ssh
                ssh: {"{"} address: 127.0.0.1, port: {sshd.Port}, user: root, key: {sshd.ClientKey}, host_key: "{sshd.Fingerprint}" {"}"}
            guests:
              - name: remote
                host: h
                vcpus: 1
                workdir: /var/tmp/horizon-tests
                transport: ssh
                ssh: {"{"} address: 127.0.0.1, port: {sshd.Port}, user: root, key: {sshd.ClientKey}, host_key: "{sshd.Fingerprint}" {"}"}
            """);
        // One block of 8 rounds: the connection is cut while the guest runs them by itself.
        var cut = Task.Run(async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(3), Ct);
            await sshd.CutConnectionsAsync();
        }, Ct);
        var notices = new Notices();
        var (outcome, results) = await lab.RunUntilAsync("""
            campaign: over-ssh
            rounds: 8
            round_timeout: 30s
            interleave: { block: 8 }
            experiments:
              - workload: command
                run: sleep 0.5
            """, Ct, notices, testbed);
        await cut;
        Assert.Contains(notices.Messages, m => m.Contains("lost the connection while following the guest"));
        Assert.True(outcome.AllCompleted, string.Join("; ", outcome.Experiments.Select(x => x.Note)));
        var e = Assert.Single(results);
        Assert.Equal(8, e.Rounds.Count(r => r.Measured));
        Assert.All(e.Rounds, r => Assert.InRange(r.Seconds!.Value, 0.5, 0.53));
        Assert.Contains("ssh root@127.0.0.1", e.EnvironmentJson);
    }
}

internal sealed class Notices : IRunProgress
{
    public System.Collections.Concurrent.ConcurrentQueue<string> Messages { get; } = new();

    public void Message(string text) => Messages.Enqueue(text);
}
