using System.Globalization;
using Horizon.Config;

namespace Horizon.Scheduler.Platforms;

/// <summary>
/// KVM through libvirt: `virsh vcpupin`, `virsh emulatorpin` (host control), read back with `virsh vcpuinfo`; the host's
/// CPUs from `virsh nodeinfo` (libvirt's view of the host). virsh is the guest's `engine:` (its connection URI), default `virsh`.
/// </summary>
public sealed class KvmAdapter : PlatformAdapter
{
    public override Platform Platform => Platform.Kvm;

    private static string Virsh(GuestSpec guest) => guest.Engine ?? "virsh";

    /// <summary>Parses `virsh nodeinfo`: CPU(s), CPU socket(s) (per NUMA cell), Core(s) per socket, Thread(s) per core, NUMA cell(s).</summary>
    public static HostTopology ParseNodeInfo(string output)
    {
        var info = output.Split('\n').Select(l => l.Split(':', 2, StringSplitOptions.TrimEntries)).Where(p => p.Length == 2 && p[0].Length > 0)
            .GroupBy(p => p[0]).ToDictionary(g => g.Key, g => g.First()[1]);
        int Need(string key) => info.TryGetValue(key, out var v) && int.TryParse(v.Split(' ')[0], CultureInfo.InvariantCulture, out var n) && n > 0
            ? n : throw new FormatException($"`virsh nodeinfo` printed no usable {key}");
        int cpus = Need("CPU(s)"), cores = Need("Core(s) per socket"), threads = Need("Thread(s) per core");
        var perSocket = cores * threads;
        return new HostTopology([.. Enumerable.Range(0, cpus).Select(c => new LogicalCpu(c, c / threads, c / perSocket, 0))]);
    }

    public override async Task<HostTopology?> DiscoverTopologyAsync(TestHost host, GuestSpec guest, IGuestTransport transport, CancellationToken ct)
    {
        var r = await transport.RunAsync($"{Virsh(guest)} nodeinfo", TimeSpan.FromSeconds(60), null, ct);
        return r.ExitCode == 0 ? ParseNodeInfo(r.Stdout) : throw new TestbedException($"`virsh nodeinfo` failed on host '{host.Name}': {r.ErrorTail}");
    }

    /// <summary>Parses `virsh vcpuinfo`: blocks of "VCPU:", "CPU:", "State:", "CPU time:", "CPU Affinity: y-y-".</summary>
    public static IReadOnlyList<string> ParseVcpuInfo(string output)
    {
        var lists = new SortedDictionary<int, string>();
        int? vcpu = null;
        foreach (var raw in output.Split('\n'))
        {
            var parts = raw.Split(':', 2, StringSplitOptions.TrimEntries);
            if (parts.Length != 2)
            {
                continue;
            }

            if (parts[0] == "VCPU")
            {
                vcpu = int.Parse(parts[1], CultureInfo.InvariantCulture);
            }
            else if (parts[0] == "CPU Affinity" && vcpu is { } v)
            {
                lists[v] = CpuList.Format(parts[1].Select((ch, i) => (ch, i)).Where(x => x.ch == 'y').Select(x => x.i));
            }
        }

        return lists.Count > 0 ? [.. lists.Values] : throw new FormatException("`virsh vcpuinfo` listed no vCPU");
    }

    public override async Task ApplyAsync(HostContext host, GuestSpec guest, IReadOnlyList<string>? vcpus, CancellationToken ct)
    {
        for (var v = 0; v < guest.Vcpus; v++)
        {
            await host.Must($"{Virsh(guest)} vcpupin {Q(guest.InstanceName)} {v} {vcpus?[v] ?? host.Topology.All} --live", ct);
        }
    }

    public override async Task<IReadOnlyList<string>> ReadBackAsync(HostContext host, GuestSpec guest, CancellationToken ct) =>
        ParseVcpuInfo(await host.Must($"{Virsh(guest)} vcpuinfo {Q(guest.InstanceName)}", ct));

    public override Task ApplyHostControlAsync(HostContext host, GuestSpec guest, CpuPlan plan, CancellationToken ct) =>
        host.Must($"{Virsh(guest)} emulatorpin {Q(guest.InstanceName)} {plan.HostControl ?? host.Topology.All} --live", ct);

    public override async Task<string?> ReadHostControlAsync(HostContext host, GuestSpec guest, CancellationToken ct)
    {
        // "emulator: CPU Affinity" / dashes / "       *: 0-3"
        var line = (await host.Must($"{Virsh(guest)} emulatorpin {Q(guest.InstanceName)}", ct)).Split('\n').FirstOrDefault(l => l.TrimStart().StartsWith("*:", StringComparison.Ordinal));
        return line?.Split(':', 2)[1].Trim();
    }
}
