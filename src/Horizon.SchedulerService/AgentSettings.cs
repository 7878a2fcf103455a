using System.Collections.Immutable;
using Horizon.Config;
using Horizon.Desk;
using Horizon.Scheduler;

namespace Horizon.SchedulerService;

/// <summary>
/// Who this agent is and what it serves, from its settings: <c>Horizon:AgentId</c> (default MACHINE-agent),
/// <c>Horizon:Testbeds</c> (testbed files, separated by ';', or <c>Horizon:Testbeds:0</c>, <c>:1</c>…), <c>Horizon:ProbePort</c>,
/// <c>Horizon:ReachabilityEvery</c> (how often idle hosts and guests are checked, default 30 s). An agent without testbed files
/// serves any host it is handed (one test computer reaching every testbed, as a single-scheduler stack does); with them it
/// serves exactly their hosts, and takes probes on their probe address and namespace.
/// </summary>
public sealed class AgentSettings
{
    public required string Id { get; init; }

    public required ImmutableArray<Testbed> Testbeds { get; init; }

    public int? ProbePort { get; init; }

    public TimeSpan ReachabilityEvery { get; init; } = TimeSpan.FromSeconds(30);

    public bool ServesAny => Testbeds.IsEmpty;

    /// <summary>The agent's own probe socket: its first testbed's probe address, namespace and port (null: serves any, the submitted testbed's).</summary>
    public CampaignExecution.ProbeBinding? Probes => Testbeds.IsEmpty ? null
        : new(Testbeds[0].ProbeAddress, Testbeds[0].ProbePort != 0 ? Testbeds[0].ProbePort : ProbePort ?? 0, Testbeds[0].ProbeNetworkNamespace);

    public ImmutableArray<ServedHost> Hosts => [.. Testbeds.SelectMany(t => t.Hosts.Select(h => new ServedHost(t.Name, h.Name, HostEndpoint.Of(h))))];

    /// <summary>Reads the settings; a testbed file that does not parse stops the agent with the file, line and field.</summary>
    public static AgentSettings Read(IConfiguration configuration)
    {
        var section = configuration.GetSection("Horizon");
        var files = (section["Testbeds"] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Concat(section.GetSection("Testbeds").GetChildren().Select(c => c.Value).OfType<string>().Where(v => v.Trim().Length > 0))
            .Distinct().ToList();
        var testbeds = files.Select(TestbedFile.Load).ToImmutableArray();
        var probes = testbeds.Select(t => (t.ProbeAddress, t.ProbeNetworkNamespace)).Distinct().ToList();
        if (probes.Count > 1)
        {
            throw new ConfigException(testbeds.First(t => (t.ProbeAddress, t.ProbeNetworkNamespace) != probes[0]).SourceFile, 1, 1, "probes",
                $"the agent's testbeds take probes at different places ({string.Join(", ", probes.Select(p => p.ProbeAddress + (p.ProbeNetworkNamespace is null ? "" : $" in netns {p.ProbeNetworkNamespace}")))}); " +
                "an agent has one timing socket: run one agent per test computer");
        }

        return new AgentSettings
        {
            Id = section["AgentId"] ?? section["WorkerId"] ?? $"{System.Environment.MachineName}-agent",
            Testbeds = testbeds,
            ProbePort = section.GetValue<int?>("ProbePort"),
            ReachabilityEvery = section.GetValue<TimeSpan?>("ReachabilityEvery") ?? TimeSpan.FromSeconds(30),
        };
    }
}
