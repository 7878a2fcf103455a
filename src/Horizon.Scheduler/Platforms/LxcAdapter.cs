using Horizon.Config;

namespace Horizon.Scheduler.Platforms;

/// <summary>LXC: the container's cpuset cgroup (`lxc-cgroup … cpuset.cpus`).</summary>
public sealed class LxcAdapter : PlatformAdapter
{
    public override Platform Platform => Platform.Lxc;

    public override bool PerGuest => true;

    private static string Base(GuestSpec g) => $"lxc-cgroup {(g.LxcPath is { } p ? $"-P {Q(p)} " : "")}-n {Q(g.InstanceName)} cpuset.cpus";

    public override Task ApplyAsync(HostContext host, GuestSpec guest, IReadOnlyList<string>? vcpus, CancellationToken ct) =>
        host.Must($"{Base(guest)} {Union(vcpus, host.Topology)}", ct);

    public override async Task<IReadOnlyList<string>> ReadBackAsync(HostContext host, GuestSpec guest, CancellationToken ct)
    {
        var cmd = Base(guest);
        var list = Field(await host.Must(cmd, ct), "cpu list", cmd);
        return [.. Enumerable.Repeat(list, guest.Vcpus)];
    }
}
