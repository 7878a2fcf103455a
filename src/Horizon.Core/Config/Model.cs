using System.Collections.Immutable;
using Horizon.Statistics;
using Horizon.Workloads;

namespace Horizon.Config;

public enum Platform
{
    Native,
    Xen,
    Kvm,
    VmwareEsxi,
    OpenVz,
    Lxc,
    Docker,
    Qemu,
    Podman,
}

public enum CpuScheme
{
    Default,
    Exclusive,
    SharedCore,
}

public enum TransportKind
{
    Local,
    Ssh,

    /// <summary>A command on the agent's machine that runs the guest's shell: `docker exec -i C`, `podman exec -i C`, `lxc-attach -n C --`.</summary>
    Exec,
}

public static class Names
{
    public static readonly IReadOnlyDictionary<string, Platform> Platforms = new Dictionary<string, Platform>
    {
        ["native"] = Platform.Native,
        ["xen"] = Platform.Xen,
        ["kvm"] = Platform.Kvm,
        ["vmware-esxi"] = Platform.VmwareEsxi,
        ["openvz"] = Platform.OpenVz,
        ["lxc"] = Platform.Lxc,
        ["docker"] = Platform.Docker,
        ["qemu"] = Platform.Qemu,
        ["podman"] = Platform.Podman,
    };

    public static readonly IReadOnlyDictionary<string, CpuScheme> Schemes = new Dictionary<string, CpuScheme>
    {
        ["default"] = CpuScheme.Default,
        ["exclusive"] = CpuScheme.Exclusive,
        ["shared-core"] = CpuScheme.SharedCore,
    };

    public static readonly IReadOnlyDictionary<string, TransportKind> Transports = new Dictionary<string, TransportKind>
    {
        ["local"] = TransportKind.Local,
        ["ssh"] = TransportKind.Ssh,
        ["exec"] = TransportKind.Exec,
    };

    public static string Of(Platform p) => Platforms.First(kv => kv.Value == p).Key;

    public static string Of(CpuScheme s) => Schemes.First(kv => kv.Value == s).Key;

    public static string Of(TransportKind t) => Transports.First(kv => kv.Value == t).Key;
}

/// <summary>How the controller reaches a host or guest.</summary>
public sealed record TransportSpec(
    TransportKind Kind,
    string? Address = null,
    int Port = 22,
    string? User = null,
    string? KeyFile = null,
    string? HostKeyFingerprint = null,
    string? KnownHostsFile = null)
{
    public static TransportSpec Local { get; } = new(TransportKind.Local);

    /// <summary>Exec transport: the command that opens the guest's shell (<c>{instance}</c> stands for the guest's instance name).</summary>
    public ImmutableArray<string> Exec { get; init; } = [];
}

public sealed record TestHost(string Name, Platform Platform, TransportSpec Transport, int Line)
{
    /// <summary>Cores kept for host control (dom0, the host's own processes) under the exclusive scheme.</summary>
    public int ControlCpus { get; init; } = 1;

    /// <summary>VMware ESXi hosts: where the vSphere API is and how to log in (the password by reference only).</summary>
    public VSphereAccess? VSphere { get; init; }
}

/// <summary>
/// The vSphere API of an ESXi host or vCenter, for govc: the SDK URL (no credentials in it), the user, and the password
/// by reference — an environment variable or a file, read where govc runs, at the moment it runs — so it is never in a
/// testbed, a result, an export or a log. <see cref="HostName"/>: the host's name in the inventory, when the API has several.
/// </summary>
public sealed record VSphereAccess(string Url, string User, string? PasswordEnv, string? PasswordFile, bool Insecure, string? HostName);

public sealed record GuestSpec(
    string Name,
    string Host,
    Platform Platform,
    int Vcpus,
    TransportSpec Transport,
    string Workdir,
    ImmutableArray<string> Wrapper,
    int Line)
{
    /// <summary>The platform's own name for the guest: container, domain, VM path or CTID (default: the guest's name).</summary>
    public string? Instance { get; init; }

    public string InstanceName => Instance ?? Name;

    /// <summary>LXC guests: the container path on the host (lxc-* -P), when not the default.</summary>
    public string? LxcPath { get; init; }

    /// <summary>QEMU guests: the QMP socket on the host, for the vCPU thread ids.</summary>
    public string? Qmp { get; init; }

    /// <summary>
    /// Docker and Podman guests: the engine's command with its options on the host (default `docker` / `podman`), e.g.
    /// `docker -H unix:///run/x.sock`; kvm guests: virsh's (default `virsh`), e.g. `virsh -c 'qemu:///system?socket=…'`.
    /// </summary>
    public string? Engine { get; init; }

    /// <summary>The guest as a router between the network peer's source and sink (the forward workload).</summary>
    public ForwardPath? Forward { get; init; }
}

/// <summary>
/// Where a forwarding guest sends what it routes: the sink's address on the guest's output link (the next hop of the
/// routes the workload installs), and the network namespaces on the peer the traffic source and sink run in.
/// </summary>
public sealed record ForwardPath(string Sink, string? SourceNetns, string? SinkNetns);

public sealed record NetworkPeer(string Name, TransportSpec Transport, string DataAddress);

public sealed record Testbed(
    string Name,
    string SourceFile,
    string ProbeAddress,
    int ProbePort,
    string? ProbeNetworkNamespace,
    ImmutableArray<TestHost> Hosts,
    ImmutableArray<GuestSpec> Guests,
    NetworkPeer? Peer)
{
    public GuestSpec Guest(string name) => Guests.FirstOrDefault(g => g.Name == name)
        ?? throw new KeyNotFoundException($"testbed '{Name}' has no guest '{name}'");

    public TestHost HostOf(GuestSpec guest) => Hosts.First(h => h.Name == guest.Host);
}

/// <summary>One experiment to run: a workload, the guests that run it at once, a CPU scheme and a round policy.</summary>
public sealed record ExperimentPlan(
    WorkloadSpec Workload,
    ImmutableArray<string> Guests,
    CpuScheme Scheme,
    RoundPolicy Rounds,
    TimeSpan RoundTimeout,
    int ProbeCopies)
{
    /// <summary>The credit scheduler's weight and cap for the guests (null: the platform's defaults).</summary>
    public CpuShare? Share { get; init; }

    /// <summary>Rounds run first, as one block, and stored as warm-up: timed like the others, never in the statistics.</summary>
    public int Warmup { get; init; }

    /// <summary>Stable identity of the experiment within a campaign: same plan, same key, so a re-run resumes it.</summary>
    public string Key => $"{Workload.Key}|guests={string.Join(',', Guests)}|scheme={Names.Of(Scheme)}{(Share is { } s ? $"|weight={s.Weight}|cap={s.Cap}" : "")}";
}

/// <summary>A proportional CPU share (Xen's credit scheduler): weight relative to other guests, cap in % of one CPU (0: none).</summary>
public sealed record CpuShare(int Weight, int Cap)
{
    public const int DefaultWeight = 256;

    public static CpuShare Default { get; } = new(DefaultWeight, 0);
}

public sealed record InterleaveOptions(int BlockRounds, int Seed);

public sealed record Campaign(
    string Name,
    string SourceFile,
    ImmutableArray<ExperimentPlan> Experiments,
    InterleaveOptions Interleave)
{
    /// <summary>Experiments of a preset left out because the testbed lacks what they need (e.g. a network peer).</summary>
    public ImmutableArray<string> Skipped { get; init; } = [];
}
