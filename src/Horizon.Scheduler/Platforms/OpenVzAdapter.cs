using System.Globalization;
using Horizon.Config;

namespace Horizon.Scheduler.Platforms;

/// <summary>OpenVZ: `vzctl set --cpumask/--cpus --save`, read back with `vzlist -H -o cpus` and the saved CPUMASK.</summary>
public sealed class OpenVzAdapter : PlatformAdapter
{
    public override Platform Platform => Platform.OpenVz;

    public override bool PerGuest => true;

    public override Task ApplyAsync(HostContext host, GuestSpec guest, IReadOnlyList<string>? vcpus, CancellationToken ct) =>
        host.Must($"vzctl set {Q(guest.InstanceName)} --cpus {guest.Vcpus} --cpumask {(vcpus is null ? "all" : Union(vcpus, host.Topology))} --save", ct);

    public override async Task<IReadOnlyList<string>> ReadBackAsync(HostContext host, GuestSpec guest, CancellationToken ct)
    {
        var id = guest.InstanceName;
        var cpus = (await host.Must($"vzlist -H -o cpus {Q(id)}", ct)).Trim();
        if (cpus != "-" && int.TryParse(cpus, CultureInfo.InvariantCulture, out var n) && n != guest.Vcpus)
        {
            throw new TestbedException($"container {id} shows {n} CPU(s), the testbed says vcpus: {guest.Vcpus}");
        }

        var mask = (await host.Must($"sed -n 's/^CPUMASK=\"\\{{0,1\\}}\\([^\"]*\\)\"\\{{0,1\\}}$/\\1/p' \"${{VZ_CONF_DIR:-/etc/vz/conf}}\"/{Q(id + ".conf")}", ct)).Trim();
        var list = mask is "" or "all" ? host.Topology.All : mask;
        return [.. Enumerable.Repeat(list, guest.Vcpus)];
    }
}
