using Horizon.Config;

namespace Horizon.Scheduler.Platforms;

/// <summary>
/// Docker or Podman: `ENGINE update --cpuset-cpus LIST C`, read back from the kernel — the CPUs the container's first
/// process may run on (`Cpus_allowed_list` of its /proc/1/status, through `ENGINE exec`). Not from `inspect`: Podman
/// 4.3's `inspect {{.HostConfig.CpusetCpus}}` keeps the value the container was created with after `update` changed the
/// kernel's cpuset (podman issue 17187), so an honest read-back asks the kernel, for both engines alike. ENGINE is the
/// guest's `engine:` (its socket or storage options), default `docker` / `podman`.
/// </summary>
public sealed class ContainerEngineAdapter(string engine) : PlatformAdapter
{
    public override Platform Platform => engine == "podman" ? Platform.Podman : Platform.Docker;

    public override bool PerGuest => true;

    private string Engine(GuestSpec guest) => guest.Engine ?? engine;

    public override Task ApplyAsync(HostContext host, GuestSpec guest, IReadOnlyList<string>? vcpus, CancellationToken ct) =>
        host.Must($"{Engine(guest)} update --cpuset-cpus {Union(vcpus, host.Topology)} {Q(guest.InstanceName)}", ct);

    public override async Task<IReadOnlyList<string>> ReadBackAsync(HostContext host, GuestSpec guest, CancellationToken ct)
    {
        var command = $"{Engine(guest)} exec {Q(guest.InstanceName)} grep ^Cpus_allowed_list: /proc/1/status";
        var line = await host.Must(command, ct);
        var list = Field(line.Split(':', 2) is [_, var value] ? value : "", "Cpus_allowed_list", command);
        return [.. Enumerable.Repeat(list, guest.Vcpus)];
    }
}
