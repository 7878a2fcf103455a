using System.Globalization;
using Horizon.Config;

namespace Horizon.Scheduler.Platforms;

/// <summary>KVM through libvirt: `virsh vcpupin`, `virsh emulatorpin` (host control), read back with `virsh vcpuinfo`.</summary>
public sealed class KvmAdapter : PlatformAdapter
{
    public override Platform Platform => Platform.Kvm;

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
            await host.Must($"virsh vcpupin {Q(guest.InstanceName)} {v} {vcpus?[v] ?? host.Topology.All} --live", ct);
        }
    }

    public override async Task<IReadOnlyList<string>> ReadBackAsync(HostContext host, GuestSpec guest, CancellationToken ct) =>
        ParseVcpuInfo(await host.Must($"virsh vcpuinfo {Q(guest.InstanceName)}", ct));

    public override Task ApplyHostControlAsync(HostContext host, GuestSpec guest, CpuPlan plan, CancellationToken ct) =>
        host.Must($"virsh emulatorpin {Q(guest.InstanceName)} {plan.HostControl ?? host.Topology.All} --live", ct);

    public override async Task<string?> ReadHostControlAsync(HostContext host, GuestSpec guest, CancellationToken ct)
    {
        // "emulator: CPU Affinity" / dashes / "       *: 0-3"
        var line = (await host.Must($"virsh emulatorpin {Q(guest.InstanceName)}", ct)).Split('\n').FirstOrDefault(l => l.TrimStart().StartsWith("*:", StringComparison.Ordinal));
        return line?.Split(':', 2)[1].Trim();
    }
}
