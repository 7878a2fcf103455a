using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Horizon.Config;
using Horizon.Desk;
using Horizon.Lab;

namespace Horizon.Aspire.Tests;

/// <summary>
/// Many test computers at once, on real processes: Redis, two controller silos, two agents (scheduler services), each
/// serving its own lab (network namespaces with their own sshd, probe address and namespace) as a separate test computer.
/// </summary>
// One cluster of processes at a time (with the AppHost's): seven .NET services starting at once on 2 cores kept a silo
// from becoming healthy within 90 s in one CI run.
[Collection("apphost")]
[Trait("needs", "stack")]
public sealed class AgentTests(ITestOutputHelper output)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Sleep(string name, int rounds, string seconds) => $"""
        campaign: {name}
        rounds: {rounds}
        round_timeout: 1m
        experiments:
          - workload: command
            run: "sleep {seconds}"
        """;

    [Fact]
    public async Task Two_agents_run_their_labs_campaigns_at_once_split_a_spanning_campaign_and_survive_an_agent_killed_mid_campaign()
    {
        var dir = Directory.CreateTempSubdirectory("horizon-agents-").FullName;
        var subnet = Random.Shared.Next(210, 240);
        var labs = new[] { new LabSpec($"ag{subnet}a", 1, false, subnet), new LabSpec($"ag{subnet}b", 1, false, subnet + 1) };
        try
        {
            var states = await Task.WhenAll(labs.Select(l => new LabManager(dir).UpAsync(l, null, Ct)));
            var (fileA, fileB) = (states[0].TestbedFile!, states[1].TestbedFile!);
            var (tbA, tbB) = (TestbedFile.Load(fileA), TestbedFile.Load(fileB));
            await using var cluster = await ClusterProcesses.StartAsync(2, false, new() { ["Horizon__AgentSilentAfter"] = "00:00:06" }, Ct);
            try
            {
                await RunAsync(cluster, fileA, fileB, tbA, tbB);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new InvalidOperationException(e.Message + "\n" + cluster.Logs(), e);
            }
        }
        finally
        {
            foreach (var l in labs)
            {
                await new LabManager(dir).DownAsync(l.Name, null, CancellationToken.None);
            }

            Directory.Delete(dir, recursive: true);
        }
    }

    private async Task RunAsync(ClusterProcesses cluster, string fileA, string fileB, Testbed tbA, Testbed tbB)
    {
        HttpClient Api() => cluster.Client(Random.Shared.Next(2));
        // agent-b's file also claims a guest nobody answers for (SSH to the discard port): the agent must report it.
        var servedB = Path.Combine(Path.GetDirectoryName(fileB)!, "served-with-ghost.yaml");
        var yaml = File.ReadAllText(fileB);
        var at = yaml.IndexOf("\nguests:\n", StringComparison.Ordinal) + "\nguests:\n".Length;
        File.WriteAllText(servedB, yaml[..at] + $"""
            - name: ghost
              host: {tbB.Hosts[0].Name}
              platform: native
              transport: ssh
              ssh:
                address: 127.0.0.1
                port: 9
                user: root
                host_key: SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU

            """ + yaml[at..]);
        await cluster.StartAgentAsync("agent-a", fileA, Ct);
        await cluster.StartAgentAsync("agent-b", servedB, Ct);

        // The agents say who they are and which hosts they serve (by endpoint: the SSH address, port and user).
        var agents = await WaitAsync(async () =>
        {
            var list = JsonNode.Parse(await Api().GetStringAsync("api/agents", Ct))!.AsArray();
            return list.Count == 2 && list.All(a => a!["live"]!.GetValue<bool>()) ? list : null;
        }, "two live agents");
        var a = agents.Single(x => x!["id"]!.GetValue<string>() == "agent-a")!;
        Assert.Equal(HostEndpoint.Of(tbA.Hosts[0]), a["hosts"]![0]!["endpoint"]!.GetValue<string>());
        Assert.Contains(tbA.ProbeNetworkNamespace!, a["probes"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.NotEqual(HostEndpoint.Of(tbA.Hosts[0]), HostEndpoint.Of(tbB.Hosts[0]));

        // The guest agent-b cannot reach is reported by the agent and marked unreachable in its grain; the CLI shows both.
        var b = await WaitAsync(async () => JsonNode.Parse(await Api().GetStringAsync("api/agents", Ct))!.AsArray()
            .Single(x => x!["id"]!.GetValue<string>() == "agent-b")!["unreachable"]!.AsArray() is { Count: > 0 } u ? u : null, "agent-b reporting the ghost guest");
        Assert.StartsWith($"{tbB.Name}/ghost: ", Assert.Single(b)!.GetValue<string>(), StringComparison.Ordinal);
        var ghost = JsonNode.Parse(await Api().GetStringAsync($"api/testbeds/{tbB.Name}", Ct))!["guests"]!.AsArray()
            .Single(g => g!["guest"]!["name"]!.GetValue<string>() == "ghost")!["guest"]!;
        Assert.Equal("Unreachable", ghost["status"]!.GetValue<string>());
        var url = $"http://127.0.0.1:{cluster.Controllers[0].HttpPort}";
        var agentsOut = await Cli(["agents", "--controller", url]);
        Assert.Contains("agent-a", agentsOut, StringComparison.Ordinal);
        Assert.Contains("live", agentsOut, StringComparison.Ordinal);
        Assert.Contains(HostEndpoint.Of(tbA.Hosts[0]), agentsOut.Replace("\n", "", StringComparison.Ordinal).Replace(" ", "", StringComparison.Ordinal)
            .Replace("│", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Contains("ghost", await Cli(["testbeds", tbB.Name, "--controller", url]), StringComparison.Ordinal);
        Assert.Contains(tbA.Name, await Cli(["testbeds", "--controller", url]), StringComparison.Ordinal);
        Assert.Contains("cannot reach the controller", await Cli(["agents", "--controller", "http://127.0.0.1:9"], 2), StringComparison.Ordinal);

        // Two campaigns, one per lab, submitted together: each goes to its lab's agent, and they run at the same time.
        var watch = Stopwatch.StartNew();
        await SubmitAsync(Api(), File.ReadAllText(fileA), Sleep("at-once-a", 6, "0.5"));
        await SubmitAsync(Api(), File.ReadAllText(fileB), Sleep("at-once-b", 6, "0.5"));
        var x = await Campaigns.WaitFinishedAsync(Api, "at-once-a", TimeSpan.FromMinutes(3), Ct);
        var y = await Campaigns.WaitFinishedAsync(Api, "at-once-b", TimeSpan.FromMinutes(3), Ct);
        var together = watch.Elapsed;
        Assert.True(x.State == "Completed" && y.State == "Completed", $"{x.State} {x.Detail} / {y.State} {y.Detail}");
        var (ra, rb) = (await Campaigns.ResultsAsync(Api(), "at-once-a", Ct), await Campaigns.ResultsAsync(Api(), "at-once-b", Ct));
        Assert.Equal("agent-a", Agent(ra.Single()!));
        Assert.Equal("agent-b", Agent(rb.Single()!));
        var (spanA, spanB) = (Span(ra.Single()!), Span(rb.Single()!));
        Assert.True(spanA.First < spanB.Last && spanB.First < spanA.Last, $"the two campaigns did not overlap: a {spanA}, b {spanB}");

        // The same two, one after the other (for the figure in the notes: together / one after the other).
        watch.Restart();
        await SubmitAsync(Api(), File.ReadAllText(fileA), Sleep("after-a", 6, "0.5"));
        Assert.Equal("Completed", (await Campaigns.WaitFinishedAsync(Api, "after-a", TimeSpan.FromMinutes(3), Ct)).State);
        await SubmitAsync(Api(), File.ReadAllText(fileB), Sleep("after-b", 6, "0.5"));
        Assert.Equal("Completed", (await Campaigns.WaitFinishedAsync(Api, "after-b", TimeSpan.FromMinutes(3), Ct)).State);
        var sequential = watch.Elapsed;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"two sleep campaigns (6 × 0.5 s each) on two agents: together {together.TotalSeconds:0.0} s, one after the other {sequential.TotalSeconds:0.0} s, ratio {together / sequential:0.00}"));

        // A campaign spanning both labs: split, each agent runs its own experiment, results in one table.
        var span = Spanning(tbA, tbB);
        await SubmitAsync(Api(), span, """
            campaign: spanning
            rounds: 5
            round_timeout: 1m
            experiments:
              - workload: command
                run: "sleep 0.3"
            """);
        var spanning = await Campaigns.WaitFinishedAsync(Api, "spanning", TimeSpan.FromMinutes(3), Ct);
        Assert.True(spanning.State == "Completed", $"{spanning.State}: {spanning.Detail}\n{string.Join("\n", spanning.Log)}");
        Assert.Equal(["agent-a", "agent-b"], spanning.Parts!.Select(p => p.Agent).Order());
        var rows = await Campaigns.ResultsAsync(Api(), "spanning", Ct);
        Assert.Equal(["agent-a", "agent-b"], rows.Select(r => Agent(r!)).Order());
        Assert.All(rows, r => Assert.Equal(5, r!["statistics"]!["n"]!.GetValue<int>()));
        var other = rows.Single(r => r!["ratio_to_native"] is not null)!;
        Assert.Contains(other["warnings"]!.AsArray(), w => w!["code"]!.GetValue<string>() is "other-machine" or "cross-machine");
        var text = await Api().GetStringAsync("api/campaigns/spanning/results?format=text", Ct);
        Assert.Contains("not interleaved", text, StringComparison.Ordinal);

        // A testbed no agent serves waits and says which host has no agent; so does an experiment whose guests sit
        // behind two agents. Neither is handed to an agent that cannot reach its guests.
        await SubmitAsync(Api(), """
            testbed: nobody-serves
            hosts:
              - name: ghost
                platform: native
                transport: ssh
                ssh: { address: 127.0.0.1, port: 9, user: root, host_key: "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU" }
            guests:
              - name: ghost-native
                host: ghost
                transport: ssh
                ssh: { address: 127.0.0.1, port: 9, user: root, host_key: "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU" }
            """, Sleep("unserved", 2, "0.1"));
        await SubmitAsync(Api(), span, """
            campaign: straddling
            rounds: 2
            round_timeout: 1m
            concurrent: true
            experiments:
              - workload: command
                run: "sleep 0.1"
            """);
        await Task.Delay(TimeSpan.FromSeconds(3), Ct);
        var unserved = await Campaigns.ViewAsync(Api(), "unserved", Ct);
        Assert.Equal("Queued", unserved.State);
        Assert.Contains("no live agent serves host 'ghost' (ssh://root@127.0.0.1:9, testbed nobody-serves)", unserved.Detail, StringComparison.Ordinal);
        var straddling = await Campaigns.ViewAsync(Api(), "straddling", Ct);
        Assert.Equal("Queued", straddling.State);
        Assert.Contains("sit behind different agents", straddling.Detail, StringComparison.Ordinal);
        foreach (var name in new[] { "unserved", "straddling" })
        {
            Assert.True((await Api().DeleteAsync($"api/campaigns/{name}", Ct)).IsSuccessStatusCode);
            Assert.Equal("Cancelled", (await Campaigns.ViewAsync(Api(), name, Ct)).State);
        }

        // The testbed's hosts and guests, live: agent, reachability, topology, placement; the guest's state and duty.
        var view = JsonNode.Parse(await Api().GetStringAsync($"api/testbeds/{tbA.Name}", Ct))!;
        Assert.Equal("agent-a", view["agent"]!.GetValue<string>());
        var host = view["hosts"]![0]!["host"]!;
        Assert.Equal("agent-a", host["agent"]!.GetValue<string>());
        Assert.True(host["reachable"]!.GetValue<bool>(), host.ToJsonString());
        Assert.True(host["topology"]!["cpus"]!.GetValue<int>() >= 1);
        Assert.Equal("default", host["scheme"]!.GetValue<string>());
        var guest = view["guests"]![0]!["guest"]!;
        Assert.Equal("Idle", guest["status"]!.GetValue<string>());
        Assert.Equal("agent-a", guest["agent"]!.GetValue<string>());
        Assert.True(guest["lastSeenUnixMs"]!.GetValue<long>() > DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeMilliseconds());

        // Agent loss: kill agent-a (by pid) mid-campaign. Its campaign stops being measured and says why; agent-b's goes on.
        await SubmitAsync(Api(), File.ReadAllText(fileA), Sleep("loss-a", 12, "0.5"));
        await SubmitAsync(Api(), File.ReadAllText(fileB), Sleep("loss-b", 12, "0.5"));
        await WaitAsync(async () => (await Campaigns.ViewAsync(Api(), "loss-a", Ct)).Measured >= 3 ? "" : null, "3 rounds of loss-a");
        cluster.Kill(cluster.Agents["agent-a"].Pid);
        var stopped = (await Campaigns.ViewAsync(Api(), "loss-a", Ct)).Measured;
        Assert.Equal("Completed", (await Campaigns.WaitFinishedAsync(Api, "loss-b", TimeSpan.FromMinutes(3), Ct)).State);
        var waiting = await WaitAsync(async () => (await Campaigns.ViewAsync(Api(), "loss-a", Ct)) is { Detail: { } d } v && d.Contains("agent-a is silent", StringComparison.Ordinal) ? v : null,
            "loss-a saying its agent is silent");
        Assert.Equal("Running", waiting.State);
        Assert.InRange(waiting.Measured, stopped, stopped + 1);

        // agent-a comes back: it takes its experiment back at once and resumes from the recorded rounds, nothing doubled.
        var restarted = DateTimeOffset.UtcNow;
        await cluster.StartAgentAsync("agent-a", fileA, Ct);
        var resumed = await Campaigns.WaitFinishedAsync(Api, "loss-a", TimeSpan.FromMinutes(3), Ct);
        Assert.True(resumed.State == "Completed", $"{resumed.State}: {resumed.Detail}\n{string.Join("\n", resumed.Log)}");
        Assert.Contains(resumed.Log, l => l.Contains("agent agent-a restarted", StringComparison.Ordinal));
        var rounds = (await Campaigns.ResultsAsync(Api(), "loss-a", Ct)).Single()!["rounds"]!.AsArray();
        var measured = rounds.Where(r => r!["outcome"]!.GetValue<string>() == "measured").Select(r => r!["round"]!.GetValue<int>()).ToList();
        Assert.Equal(12, measured.Count);
        Assert.Equal(rounds.Count, rounds.Select(r => r!["round"]!.GetValue<int>()).Distinct().Count());
        Assert.All(rounds.Where(r => r!["outcome"]!.GetValue<string>() == "failed"), r => Assert.Contains("interrupted", r!["reason"]!.GetValue<string>(), StringComparison.Ordinal));
        var back = (await Api().GetFromJsonAsync<JsonArray>("api/agents", Ct))!.Single(x => x!["id"]!.GetValue<string>() == "agent-a")!;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"agent-a restarted: first claim {back["firstClaimAfterSeconds"]} s after its start; healthy → campaign completed {(DateTimeOffset.UtcNow - restarted).TotalSeconds:0.0} s"));
    }

    /// <summary>Runs the built CLI (as a user would) and returns what it printed; the exit code must be <paramref name="exit"/>.</summary>
    private static async Task<string> Cli(string[] args, int exit = 0)
    {
        var configuration = Path.GetFileName(AppContext.BaseDirectory.TrimEnd('/'));
        var dll = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "Horizon.Cli", configuration, "horizon.dll"));
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(dll);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["COLUMNS"] = "400";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync(Ct);
        var stderr = p.StandardError.ReadToEndAsync(Ct);
        await p.WaitForExitAsync(Ct);
        var text = await stdout + await stderr;
        Assert.True(p.ExitCode == exit, $"horizon {string.Join(' ', args)}: exit {p.ExitCode}\n{text}");
        return text;
    }

    private static async Task SubmitAsync(HttpClient api, string testbed, string campaign) =>
        await Campaigns.SubmitAsync(api, new CampaignSubmission(testbed, campaign, null, null), Ct);

    private static string Agent(JsonNode experiment) => experiment["environment"]!["agent"]!["id"]!.GetValue<string>();

    private static (long First, long Last) Span(JsonNode experiment)
    {
        var times = experiment["rounds"]!.AsArray().Select(r => r!["recorded_unix_ms"]!.GetValue<long>()).ToList();
        return (times.Min(), times.Max());
    }

    /// <summary>One testbed naming both labs' hosts (as two test computers of one study) and a native guest on each.</summary>
    private static string Spanning(Testbed a, Testbed b)
    {
        static string Ssh(TransportSpec t) => $"{{ address: {t.Address}, port: {t.Port}, user: {t.User}, key: {t.KeyFile}, host_key: \"{t.HostKeyFingerprint}\" }}";
        var (ga, gb) = (a.Guests.Single(g => g.Platform == Platform.Native), b.Guests.Single(g => g.Platform == Platform.Native));
        return $"""
            testbed: span
            hosts:
              - name: computer-a
                platform: native
                transport: ssh
                ssh: {Ssh(a.Hosts[0].Transport)}
              - name: computer-b
                platform: native
                transport: ssh
                ssh: {Ssh(b.Hosts[0].Transport)}
            guests:
              - name: a-native
                host: computer-a
                vcpus: 1
                workdir: {ga.Workdir}
                transport: ssh
                ssh: {Ssh(ga.Transport)}
              - name: b-native
                host: computer-b
                vcpus: 1
                workdir: {gb.Workdir}
                transport: ssh
                ssh: {Ssh(gb.Transport)}
            """;
    }

    private static async Task<T> WaitAsync<T>(Func<Task<T?>> probe, string what) where T : class
    {
        var until = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (DateTime.UtcNow < until)
        {
            try
            {
                if (await probe() is { } value)
                {
                    return value;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(500, Ct);
        }

        throw new TimeoutException($"{what}: not seen within 2 min");
    }
}
