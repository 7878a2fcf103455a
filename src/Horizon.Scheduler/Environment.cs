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
            throw new TestbedException($"cannot describe {name} over {transport.Description}: exit {result.ExitCode}: {result.ErrorTail}");
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
