using System.Globalization;
using System.Text.Json;

namespace Horizon.Reports;

/// <summary>
/// The test host's CPU count as an experiment's environment records it: the topology the CPU placement discovered on the
/// host ("N logical CPU(s), …" under <c>host_control</c>). A guest's own <c>cpus</c> is only a fallback: inside a VM it
/// counts the VM's vCPUs, not the host's CPUs.
/// </summary>
public static class HostTopologyRecord
{
    /// <summary>The largest host's logical CPU count in <c>host_control</c>, or <paramref name="fallback"/> when none is recorded.</summary>
    public static int LogicalCpus(JsonElement environment, int fallback)
    {
        if (!environment.TryGetProperty("host_control", out var hosts) || hosts.ValueKind != JsonValueKind.Object)
        {
            return fallback;
        }

        var logical = hosts.EnumerateObject()
            .Select(h => h.Value.ValueKind == JsonValueKind.Object && h.Value.TryGetProperty("topology", out var t) && t.ValueKind == JsonValueKind.String ? Parse(t.GetString()!) : 0)
            .DefaultIfEmpty(0).Max();
        return logical > 0 ? logical : fallback;
    }

    private static int Parse(string topology) =>
        topology.Contains("logical CPU", StringComparison.Ordinal)
        && int.TryParse(topology.Split(' ', 2)[0], NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0;
}
