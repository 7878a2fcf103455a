using Horizon.Config;
using Horizon.Scripts;

namespace Horizon.Scheduler.Platforms;

/// <summary>
/// Applies a CPU scheme with the commands a platform really uses, and reads it back from the platform so an
/// experiment never starts on a placement other than the one it reports. Per guest: one CPU list per vCPU.
/// </summary>
public abstract class PlatformAdapter
{
    public abstract Platform Platform { get; }

    /// <summary>Pins the guest's vCPUs (null: unpinned, every CPU of the host).</summary>
    public abstract Task ApplyAsync(HostContext host, GuestSpec guest, IReadOnlyList<string>? vcpus, CancellationToken ct);

    /// <summary>The CPUs each vCPU may run on, as the platform reports it.</summary>
    public abstract Task<IReadOnlyList<string>> ReadBackAsync(HostContext host, GuestSpec guest, CancellationToken ct);

    /// <summary>Host control (Xen's dom0, libvirt's emulator threads): pinned and reduced as the plan says.</summary>
    public virtual Task ApplyHostControlAsync(HostContext host, GuestSpec guest, CpuPlan plan, CancellationToken ct) => Task.CompletedTask;

    /// <summary>Host control as read back, or null when the platform has none to verify.</summary>
    public virtual Task<string?> ReadHostControlAsync(HostContext host, GuestSpec guest, CancellationToken ct) => Task.FromResult<string?>(null);

    /// <summary>True when the platform pins the whole guest (a cpuset), not each vCPU.</summary>
    public virtual bool PerGuest => false;

    /// <summary>
    /// The host's physical CPUs as the platform reports them, or null to read them with lscpu on the host. Xen's dom0
    /// sees only its own vCPUs, so the Xen adapter asks the hypervisor (`xl info`).
    /// </summary>
    public virtual Task<HostTopology?> DiscoverTopologyAsync(IGuestTransport host, CancellationToken ct) => Task.FromResult<HostTopology?>(null);

    /// <summary>
    /// As <see cref="DiscoverTopologyAsync(IGuestTransport, CancellationToken)"/>, for adapters that need the host's or a
    /// guest's settings (ESXi's API access, the guest's virsh connection).
    /// </summary>
    public virtual Task<HostTopology?> DiscoverTopologyAsync(TestHost host, GuestSpec guest, IGuestTransport transport, CancellationToken ct) => DiscoverTopologyAsync(transport, ct);

    /// <summary>
    /// Sets the guest's proportional share (credit scheduler weight and cap) and returns it as the platform reports it;
    /// null share: the platform's default. Platforms without one refuse a share that was asked for.
    /// </summary>
    public virtual Task<CpuShare?> ApplyShareAsync(HostContext host, GuestSpec guest, CpuShare? share, CancellationToken ct) =>
        share is null ? Task.FromResult<CpuShare?>(null) : throw new TestbedException(NoShare(Platform));

    public static string NoShare(Platform platform) =>
        $"cpu_weight/cpu_cap (a credit scheduler share) are applied on xen guests; {Names.Of(platform)} has none this adapter sets";

    public static PlatformAdapter? For(Platform platform) => platform switch
    {
        Platform.Lxc => new LxcAdapter(),
        Platform.Qemu => new QemuAdapter(),
        Platform.Xen => new XenAdapter(),
        Platform.Kvm => new KvmAdapter(),
        Platform.VmwareEsxi => new EsxiAdapter(),
        Platform.OpenVz => new OpenVzAdapter(),
        Platform.Docker => new ContainerEngineAdapter("docker"),
        Platform.Podman => new ContainerEngineAdapter("podman"),
        _ => null, // native: the workload's own processes are pinned inside the guest (taskset) and read back there
    };

    protected static string Q(string s) => GuestScripts.Quote(s);

    protected static string Union(IReadOnlyList<string>? vcpus, HostTopology t) =>
        vcpus is null ? t.All : CpuList.Format(vcpus.SelectMany(CpuList.Parse));

    protected static string Field(string text, string what, string command) =>
        text.Trim() is { Length: > 0 } v ? v : throw new TestbedException($"`{command}` printed no {what}");
}
