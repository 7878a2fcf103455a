using System.Globalization;
using Horizon.Config;
using Horizon.Grains;

namespace Horizon.Scheduler;

/// <summary>Describes a host or guest from inside (CPU model, cores, sockets, kernel, memory, OS).</summary>
public static class EnvironmentProbe
{
    public const string Script = """
        echo "cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
        echo "cpus=$(nproc --all)"
        echo "sockets=$(grep 'physical id' /proc/cpuinfo | sort -u | wc -l)"
        echo "kernel=$(uname -r)"
        echo "mem_bytes=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) * 1024 ))"
        echo "os=$( . /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-unknown}")"
        echo "hostname=$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)"
        """;

    public static async Task<HostDescription> DescribeAsync(string name, Platform platform, IGuestTransport transport, CancellationToken ct)
    {
        var result = await transport.RunAsync(Script, TimeSpan.FromSeconds(30), null, ct);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"cannot describe {name} over {transport.Description}: exit {result.ExitCode}: {result.ErrorTail}");
        }

        var values = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        int Int(string k) => int.TryParse(values.GetValueOrDefault(k), CultureInfo.InvariantCulture, out var v) ? v : 0;
        return new HostDescription(
            name,
            Names.Of(platform),
            values.GetValueOrDefault("cpu_model", "unknown"),
            Int("cpus"),
            Math.Max(1, Int("sockets")),
            values.GetValueOrDefault("kernel", "unknown"),
            long.TryParse(values.GetValueOrDefault("mem_bytes"), CultureInfo.InvariantCulture, out var mem) ? mem : 0,
            values.GetValueOrDefault("os", "unknown"));
    }
}

/// <summary>Which cores each guest of an experiment may use under a CPU scheme (native platform: the workload's affinity).</summary>
public static class CpuSchemes
{
    /// <returns>Per guest, a cpu list such as "1" or "2-3", or null for the default scheme.</returns>
    public static IReadOnlyList<string?> NativeAffinity(CpuScheme scheme, IReadOnlyList<GuestSpec> guests, int hostCpus)
    {
        switch (scheme)
        {
            case CpuScheme.Default:
                return guests.Select(_ => (string?)null).ToList();
            case CpuScheme.SharedCore:
                return guests.Select(_ => (string?)"0").ToList();
            default:
                // Core 0 stays with the host's control work; every guest vCPU gets a core of its own.
                var needed = 1 + guests.Sum(g => g.Vcpus);
                if (needed > hostCpus)
                {
                    throw new InvalidOperationException(
                        $"the exclusive scheme needs {needed} cores (1 for the host + {guests.Sum(g => g.Vcpus)} guest vCPUs) but the host has {hostCpus}; lower the guests' vcpus or use shared-core/default");
                }

                var next = 1;
                var lists = new List<string?>();
                foreach (var g in guests)
                {
                    lists.Add(g.Vcpus == 1 ? $"{next}" : $"{next}-{next + g.Vcpus - 1}");
                    next += g.Vcpus;
                }

                return lists;
        }
    }
}
