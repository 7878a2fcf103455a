using Horizon.Config;
using Horizon.Grains;

namespace Horizon.Scheduler;

/// <summary>
/// The agent that runs experiments: its name, the machine (test computer) it runs on and that machine's hardware.
/// Stored with every experiment's environment, so a ratio between experiments measured on different test computers
/// can say so, and whether their hardware matched.
/// </summary>
public sealed record AgentIdentity(string Id, string Machine, HostDescription? Hardware)
{
    /// <summary>The embedded controller: its own machine, one agent.</summary>
    public static AgentIdentity Embedded { get; } = new("embedded", System.Environment.MachineName, null);

    /// <summary>This machine's CPU model, core count, memory and kernel, read once (the workloads' own probe script, run locally).</summary>
    public static async Task<HostDescription?> DescribeThisMachineAsync(CancellationToken ct)
    {
        try
        {
            await using var local = new LocalTransport();
            return await EnvironmentProbe.DescribeAsync(System.Environment.MachineName, Platform.Native, local, ct);
        }
        catch (TestbedException)
        {
            return null;
        }
    }
}
