using System.Text.Json;
using Horizon.Config;

namespace Horizon.Scheduler.Running;

/// <summary>What an experiment ran on, stored beside its rounds: controller, testbed, each guest's host and placement.</summary>
internal static class EnvironmentRecord
{
    public static string Json(ExperimentRun run, Testbed testbed, string timestamps, AgentIdentity agent) => JsonSerializer.Serialize(new
    {
        // The test computer that measured it: a ratio between experiments of different agents is across machines.
        agent = new
        {
            id = agent.Id,
            machine = agent.Machine,
            cpu_model = agent.Hardware?.CpuModel,
            cpus = agent.Hardware?.Cpus,
            memory_bytes = agent.Hardware?.MemoryBytes,
            kernel = agent.Hardware?.Kernel,
        },
        controller = new
        {
            horizon = typeof(CampaignRunner).Assembly.GetName().Version?.ToString(),
            dotnet = Environment.Version.ToString(),
            os = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
            timestamps,
        },
        testbed = new { name = testbed.Name, file = testbed.SourceFile },
        guests = run.Guests.Select((g, i) => new
        {
            name = g.Name,
            host = g.Host,
            platform = Names.Of(g.Platform),
            vcpus = g.Vcpus,
            transport = run.Transport(i).Description,
            cpu_model = run.Hosts[i].CpuModel,
            cpus = run.Hosts[i].Cpus,
            sockets = run.Hosts[i].Sockets,
            kernel = run.Hosts[i].Kernel,
            memory_bytes = run.Hosts[i].MemoryBytes,
            os = run.Hosts[i].Os,
            affinity = run.Placement.Affinity[i],
            placement = run.Placement.Guests.ElementAtOrDefault(i),
        }),
        host_control = run.Placement.HostControl,
        scheme = Names.Of(run.Plan.Scheme),
        workload = new { name = run.Plan.Workload.Name, parameters = run.Plan.Workload.Parameters },
        rounds = new { min = run.Plan.Rounds.Min, max = run.Plan.Rounds.Max, target = run.Plan.Rounds.TargetRelativeHalfWidth },
        round_timeout_s = run.Plan.RoundTimeout.TotalSeconds,
        probe_copies = run.Plan.ProbeCopies,
    });
}
