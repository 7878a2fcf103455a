using Horizon.Config;

namespace Horizon.Scheduler.Platforms;

/// <summary>Docker or Podman: `update --cpuset-cpus`, read back with `inspect`.</summary>
public sealed class ContainerEngineAdapter(string engine) : PlatformAdapter
{
    public override Platform Platform => engine == "podman" ? Platform.Podman : Platform.Docker;

    public override bool PerGuest => true;

    public override Task ApplyAsync(HostContext host, GuestSpec guest, IReadOnlyList<string>? vcpus, CancellationToken ct) =>
        host.Must($"{engine} update --cpuset-cpus {Union(vcpus, host.Topology)} {Q(guest.InstanceName)}", ct);

    public override async Task<IReadOnlyList<string>> ReadBackAsync(HostContext host, GuestSpec guest, CancellationToken ct)
    {
        var value = (await host.Must($"{engine} inspect --format '{{{{.HostConfig.CpusetCpus}}}}' {Q(guest.InstanceName)}", ct)).Trim();
        var list = value.Length == 0 ? host.Topology.All : value;
        return [.. Enumerable.Repeat(list, guest.Vcpus)];
    }
}
