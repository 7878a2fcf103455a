using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Horizon.Scheduler.Lab;

/// <summary>What a lab is made of.</summary>
public sealed record LabSpec(string Name = "hz", int Hosts = 1, bool Peer = true, int Subnet = 77, int LxcGuests = 0, string? Rootfs = null, int QemuGuests = 0, string? VmKernel = null)
{
    /// <summary>A nested Xen host (Xen 4.17 under QEMU, dom0 over SSH) with this many PV domUs; 0 = none.</summary>
    public int XenGuests { get; init; }

    /// <summary>The dom0 image and hypervisor built by scripts/build-xen.sh.</summary>
    public string? XenImage { get; init; }

    /// <summary>Gives every guest a forwarding path: a link from a traffic source and a link to a sink (the forward workload).</summary>
    public bool Forward { get; init; }

    public string Namespace(string role) => $"hz-{Name}-{role}";

    public string Address(int index) => $"10.{Subnet}.0.{index}";

    public string ControllerAddress => Address(1);
}

/// <summary>Everything a lab created, recorded on disk as it is created so `lab down` can remove it after a crash.</summary>
public sealed class LabState
{
    public string Name { get; set; } = "";

    public List<string> Namespaces { get; set; } = [];

    public List<LabProcess> Processes { get; set; } = [];

    public List<LabMachine> Machines { get; set; } = [];

    public List<LabContainer> Containers { get; set; } = [];

    /// <summary>Guests' forwarding paths (source and sink namespaces, the links' addresses), by guest name.</summary>
    public Dictionary<string, LabForwardPath> Forward { get; set; } = [];

    /// <summary>QEMU guests' vCPU thread ids on the host, from QMP (what CPU schemes pin).</summary>
    public Dictionary<string, List<int>> VcpuThreads { get; set; } = [];

    public string? TestbedFile { get; set; }
}

public sealed record LabProcess(int Pid, string Marker, string Role);

/// <summary>
/// One guest's forwarding path: source namespace —(in link)— guest —(out link)— sink namespace, plus a direct link from
/// source to sink (the generator's ceiling without a guest). Addresses: in 10.(S+1).j.0/24 (source .2, guest .1), out
/// 10.(S+2).j.0/24 (guest .1, sink .2), direct 10.(S+3).j.0/24 (source .1, sink .2).
/// </summary>
public sealed record LabForwardPath(int Index, string SourceNetns, string SinkNetns, string GuestIn, string GuestOut, string Sink);

public sealed record LabContainer(string Name, string Namespace, string LxcPath);

public sealed record LabMachine(string Name, string Namespace, string Address, int SshPort, string HostKeyFingerprint, bool IsPeer, string Platform = "native", string? Host = null);

/// <summary>
/// Builds and tears down, on this machine, test hosts and a network peer as network namespaces on one bridge, each
/// with its own sshd. Nothing is added to the root namespace: the bridge lives in the lab's controller namespace (where
/// the timing service opens its probe socket), and each sshd is reached through a loopback forwarder.
/// </summary>
public sealed partial class LabManager(string directory)
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public string Directory { get; } = Path.GetFullPath(directory);

    private string StatePath(string name) => Path.Combine(Directory, name, "state.json");

    public LabState? Read(string name) =>
        File.Exists(StatePath(name)) ? JsonSerializer.Deserialize<LabState>(File.ReadAllText(StatePath(name))) : null;

    public async Task<LabState> UpAsync(LabSpec spec, Action<string>? log = null, CancellationToken ct = default)
    {
        if (Read(spec.Name) is not null)
        {
            throw new InvalidOperationException($"lab '{spec.Name}' is already up ({StatePath(spec.Name)}); run `horizon lab down --name {spec.Name}` first");
        }

        foreach (var tool in new[] { "ip", "socat", "/usr/sbin/sshd", "ssh-keygen", "unshare" })
        {
            if (await Sh($"command -v {tool}", ct) != 0)
            {
                throw new InvalidOperationException($"the lab needs {tool}: apt-get install {(tool.Contains("sshd") || tool == "ssh-keygen" ? "openssh-server" : tool == "socat" ? "socat" : "iproute2")}");
            }
        }

        var dir = Path.Combine(Directory, spec.Name);
        System.IO.Directory.CreateDirectory(Path.Combine(dir, "empty"));
        System.IO.Directory.CreateDirectory("/run/sshd");
        var state = new LabState { Name = spec.Name };
        Save(state);
        try
        {
            var ctl = spec.Namespace("ctl");
            await Netns(state, ctl, ct);
            await Must($"ip netns exec {ctl} ip link set lo up && ip netns exec {ctl} ip link add br0 type bridge && ip netns exec {ctl} ip addr add {spec.ControllerAddress}/24 dev br0 && ip netns exec {ctl} ip link set br0 up", ct);
            if (spec.Forward)
            {
                if (!spec.Peer)
                {
                    throw new InvalidOperationException("--forward needs the network peer (it runs the traffic source and sink): leave out --no-peer");
                }

                if (spec.Subnet > 252)
                {
                    throw new InvalidOperationException("--forward uses the subnets 10.(S+1..S+3).0.0/16: pick --subnet 252 or lower");
                }

                var paths = spec.Hosts * (1 + spec.LxcGuests + spec.QemuGuests);
                if (paths > 250)
                {
                    throw new InvalidOperationException($"--forward gives each guest its own links; {paths} guests is more than the 250 the addressing allows");
                }

                // Before any sshd starts: the peer's sshd runs in a private copy of the mount table, and the generator it
                // starts enters the source and sink namespaces through /run/netns.
                for (var j = 1; j <= paths; j++)
                {
                    await ForwardNamespacesAsync(spec, state, j, ct);
                }
            }

            var clientKey = Path.Combine(dir, "client_ed25519");
            await Must($"ssh-keygen -q -t ed25519 -N '' -f {clientKey}", ct);
            File.Copy(clientKey + ".pub", Path.Combine(dir, "authorized_keys"), overwrite: true);
            var machines = Enumerable.Range(1, spec.Hosts).Select(i => ($"host{i}", false, 9 + i)).ToList();
            if (spec.Peer)
            {
                machines.Add(("peer", true, 2));
            }

            foreach (var (name, isPeer, octet) in machines)
            {
                log?.Invoke($"lab {spec.Name}: {name} ({spec.Address(octet)})");
                var ns = spec.Namespace(name);
                await Netns(state, ns, ct);
                var bridgePort = $"hz{spec.Subnet}b{octet}";
                await Must($"ip netns exec {ctl} ip link add {bridgePort} type veth peer name eth0 netns {ns}", ct);
                await Must($"ip netns exec {ctl} ip link set {bridgePort} master br0 up", ct);
                // A bridge in every machine: its own address lives there, and containers it hosts join the lab's subnet through it.
                await Must($"ip netns exec {ns} ip link set lo up && ip netns exec {ns} ip link add br0 type bridge && ip netns exec {ns} ip link set eth0 master br0 && ip netns exec {ns} ip addr add {spec.Address(octet)}/24 dev br0 && ip netns exec {ns} ip link set eth0 up && ip netns exec {ns} ip link set br0 up", ct);
                var hostKey = Path.Combine(dir, $"{name}_host_ed25519");
                await Must($"ssh-keygen -q -t ed25519 -N '' -f {hostKey}", ct);
                var fingerprint = (await Output($"ssh-keygen -lf {hostKey}.pub", ct)).Split(' ')[1];
                var config = Path.Combine(dir, $"{name}_sshd_config");
                await File.WriteAllTextAsync(config, SshdConfig(spec.Address(octet), 22, hostKey, $"{dir}/{name}_sshd.pid", $"{dir}/authorized_keys"), ct);
                var sshdMarker = $"{config}";
                // nsenter, not `ip netns exec`, so sessions on the host see the cgroup tree (the lxc adapter's lxc-cgroup needs it).
                var sshd = Spawn($"nsenter --net=/run/netns/{ns} unshare --mount --propagation private sh -c 'mount --bind {dir}/empty /root && exec /usr/sbin/sshd -D -f {config} -E {dir}/{name}_sshd.log'");
                state.Processes.Add(new LabProcess(sshd, sshdMarker, $"{name} sshd"));
                Save(state);
                var port = Forward(state, name, ns, spec.Address(octet));
                state.Machines.Add(new LabMachine(name, ns, spec.Address(octet), port, fingerprint, isPeer));
                Save(state);
            }

            if (spec.Forward)
            {
                foreach (var m in state.Machines.Where(m => !m.IsPeer))
                {
                    var path = NextForwardPath(spec, state, m.Name);
                    await Must($"ip -n {path.SourceNetns} link add {ForwardIf(spec, path, 's')} type veth peer name fwdin netns {m.Namespace} && " +
                               $"ip -n {path.SinkNetns} link add {ForwardIf(spec, path, 'k')} type veth peer name fwdout netns {m.Namespace} && " +
                               $"ip -n {m.Namespace} addr add {path.GuestIn}/24 dev fwdin && ip -n {m.Namespace} addr add {path.GuestOut}/24 dev fwdout && " +
                               $"ip -n {m.Namespace} link set fwdin up && ip -n {m.Namespace} link set fwdout up", ct);
                    await ForwardRoutesAsync(spec, path, ct);
                }
            }

            for (var h = 1; h <= spec.Hosts; h++)
            {
                for (var k = 1; k <= spec.LxcGuests; k++)
                {
                    await StartLxcAsync(spec, state, dir, h, k, log, ct);
                }

                for (var k = 1; k <= spec.QemuGuests; k++)
                {
                    await StartQemuAsync(spec, state, dir, h, k, log, ct);
                }
            }

            if (spec.XenGuests > 0)
            {
                await StartXenAsync(spec, state, dir, log, ct);
            }

            foreach (var m in state.Machines.Where(m => m.Platform != "xen"))
            {
                await WaitForSsh(m, ct);
                if (m.Platform == XenDom0)
                {
                    await CreateDomUsAsync(state, m, clientKey, log, ct);
                }
            }

            state.TestbedFile = Path.Combine(dir, "testbed.yaml");
            await File.WriteAllTextAsync(state.TestbedFile, Testbed(spec, state, clientKey, dir), ct);
            Save(state);
            return state;
        }
        catch
        {
            await DownAsync(spec.Name, log, CancellationToken.None);
            throw;
        }
    }

    /// <summary>Removes everything the lab's state file records; safe to run twice and after a crash.</summary>
    public async Task<bool> DownAsync(string name, Action<string>? log = null, CancellationToken ct = default)
    {
        var state = Read(name);
        if (state is null)
        {
            return false;
        }

        foreach (var p in state.Processes)
        {
            if (IsOurs(p))
            {
                log?.Invoke($"lab {name}: stopping {p.Role} (pid {p.Pid})");
                await Sh($"kill -KILL -- -{p.Pid} 2>/dev/null || kill -KILL {p.Pid} 2>/dev/null; true", ct);
            }
        }

        foreach (var c in state.Containers)
        {
            log?.Invoke($"lab {name}: stopping container {c.Name}");
            await Sh($"nsenter --net=/run/netns/{c.Namespace} lxc-stop -P {c.LxcPath} -n {c.Name} -k 2>/dev/null; true", ct);
        }

        foreach (var ns in Enumerable.Reverse(state.Namespaces))
        {
            if (File.Exists($"/run/netns/{ns}"))
            {
                // Processes still inside (a guest's leftovers) are ended first: only ours can be there.
                await Sh($"ip netns pids {ns} | xargs -r kill -KILL; ip netns del {ns}", ct);
                log?.Invoke($"lab {name}: removed namespace {ns}");
            }
        }

        System.IO.Directory.Delete(Path.Combine(Directory, name), recursive: true);
        return true;
    }

    private static bool IsOurs(LabProcess p)
    {
        try
        {
            var cmdline = File.ReadAllText($"/proc/{p.Pid}/cmdline").Replace('\0', ' ');
            return cmdline.Contains(p.Marker, StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static string Testbed(LabSpec spec, LabState state, string clientKey, string dir)
    {
        var sb = new System.Text.StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"# written by `horizon lab up --name {spec.Name}`; removed by `horizon lab down --name {spec.Name}`");
        sb.AppendLine(CultureInfo.InvariantCulture, $"testbed: lab-{spec.Name}");
        sb.AppendLine("probes:");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  address: {spec.ControllerAddress}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  netns: {spec.Namespace("ctl")}");
        string Ssh(LabMachine m) => $"{{ address: 127.0.0.1, port: {m.SshPort}, user: root, key: {clientKey}, host_key: \"{m.HostKeyFingerprint}\" }}";
        sb.AppendLine("hosts:");
        foreach (var m in state.Machines.Where(m => !m.IsPeer && m.Platform == "native"))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"  - name: {m.Name}\n    platform: native\n    transport: ssh\n    ssh: {Ssh(m)}");
        }

        foreach (var m in state.Machines.Where(m => m.Platform == XenDom0))
        {
            // The Xen host is its dom0: xl runs there. One of its two CPUs stays with dom0 under `exclusive`, as in the study.
            sb.AppendLine(CultureInfo.InvariantCulture, $"  - name: {m.Name}\n    platform: xen\n    transport: ssh\n    control_cpus: 1\n    ssh: {Ssh(m)}");
        }

        sb.AppendLine("guests:");
        foreach (var m in state.Machines.Where(m => !m.IsPeer && m.Platform == "native"))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"  - name: {m.Name}-native\n    host: {m.Name}\n    platform: native\n    vcpus: 1\n    workdir: /var/tmp/horizon-lab-{spec.Name}/{m.Name}\n    transport: ssh\n    ssh: {Ssh(m)}{ForwardYaml(state, m.Name)}");
        }

        foreach (var m in state.Machines.Where(m => m.Platform == "xen"))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"  - name: {m.Name}\n    host: {m.Host}\n    platform: xen\n    instance: {m.Name[(m.Host!.Length + 1)..]}\n    vcpus: 1\n    workdir: /var/tmp/horizon\n    transport: ssh\n    ssh: {Ssh(m)}");
        }

        foreach (var m in state.Machines.Where(m => m.Platform is "lxc" or "qemu"))
        {
            // What the platform adapters need on the host: the container path, or the VM's QMP socket.
            var control = m.Platform == "lxc" ? $"\n    lxc_path: {Path.Combine(dir, "lxc")}" : $"\n    qmp: {Path.Combine(dir, "qemu", m.Name, "qmp.sock")}";
            sb.AppendLine(CultureInfo.InvariantCulture, $"  - name: {m.Name}\n    host: {m.Host}\n    platform: {m.Platform}\n    instance: {m.Name}{control}\n    vcpus: 1\n    workdir: /var/tmp/horizon\n    transport: ssh\n    ssh: {Ssh(m)}{ForwardYaml(state, m.Name)}");
        }

        if (state.Machines.FirstOrDefault(m => m.IsPeer) is { } peer)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"peer:\n  name: peer\n  address: {peer.Address}\n  transport: ssh\n  ssh: {Ssh(peer)}");
        }

        return sb.ToString();
    }

    private static string ForwardYaml(LabState state, string machine) => state.Forward.TryGetValue(machine, out var p)
        ? $"\n    forward: {{ sink: {p.Sink}, source_netns: {p.SourceNetns}, sink_netns: {p.SinkNetns} }}"
        : "";

    /// <summary>An LXC container on a lab host: its own copy of the cached rootfs, sshd as init, a veth on the host's bridge.</summary>
    private async Task StartLxcAsync(LabSpec spec, LabState state, string dir, int host, int index, Action<string>? log, CancellationToken ct)
    {
        var rootfsCache = spec.Rootfs ?? throw new InvalidOperationException("LXC guests need the lab's root filesystem: scripts/build-rootfs.sh builds it (.cache/rootfs/bookworm)");
        if (!File.Exists(Path.Combine(rootfsCache, ".horizon-rootfs")))
        {
            throw new InvalidOperationException($"no root filesystem at {rootfsCache}: run scripts/build-rootfs.sh");
        }

        if (await Sh("command -v lxc-start", ct) != 0)
        {
            throw new InvalidOperationException("LXC guests need LXC: apt-get install lxc");
        }

        var name = $"host{host}-lxc{index}";
        var address = spec.Address(100 + ((host - 1) * 10) + index);
        var hostNs = spec.Namespace($"host{host}");
        log?.Invoke($"lab {spec.Name}: {name} ({address}), LXC on host{host}");
        var lxcPath = Path.Combine(dir, "lxc");
        var rootfs = Path.Combine(lxcPath, name, "rootfs");
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(rootfs)!);
        state.Containers.Add(new LabContainer(name, hostNs, lxcPath));
        Save(state);
        var fingerprint = await GuestRootAsync(rootfsCache, rootfs, dir, ct);
        await File.WriteAllTextAsync($"{rootfs}/horizon-init", "#!/bin/sh\nmkdir -p /run/sshd\nexec /usr/sbin/sshd -D -e\n", ct);
        var forwardConfig = "";
        LabForwardPath? path = null;
        if (spec.Forward)
        {
            // Two veth pairs whose guest ends LXC moves into the container (type phys), with their addresses.
            path = NextForwardPath(spec, state, name);
            await Must($"ip -n {path.SourceNetns} link add {ForwardIf(spec, path, 's')} type veth peer name {ForwardIf(spec, path, 'i')} netns {hostNs} && " +
                       $"ip -n {path.SinkNetns} link add {ForwardIf(spec, path, 'k')} type veth peer name {ForwardIf(spec, path, 'o')} netns {hostNs}", ct);
            forwardConfig = $"""

                lxc.net.1.type = phys
                lxc.net.1.link = {ForwardIf(spec, path, 'i')}
                lxc.net.1.name = fwdin
                lxc.net.1.flags = up
                lxc.net.1.ipv4.address = {path.GuestIn}/24
                lxc.net.2.type = phys
                lxc.net.2.link = {ForwardIf(spec, path, 'o')}
                lxc.net.2.name = fwdout
                lxc.net.2.flags = up
                lxc.net.2.ipv4.address = {path.GuestOut}/24
                """;
        }

        await Must($"chmod +x {rootfs}/horizon-init", ct);
        await File.WriteAllTextAsync(Path.Combine(lxcPath, name, "config"), $"""
            lxc.uts.name = {name}
            lxc.rootfs.path = dir:{rootfs}
            lxc.include = /usr/share/lxc/config/common.conf
            lxc.apparmor.profile = unconfined
            lxc.net.0.type = veth
            lxc.net.0.veth.pair = {Veth(spec, host, index)}
            lxc.net.0.flags = up
            lxc.net.0.name = eth0
            lxc.net.0.ipv4.address = {address}/24
            lxc.init.cmd = /horizon-init
            lxc.mount.entry = /usr/src usr/src none bind,ro,create=dir 0 0
            lxc.cgroup.cpuset.cpus = {LxcCore(index)}
            lxc.cgroup.cpuset.mems = 0
            lxc.log.file = {lxcPath}/{name}.log
            """ + forwardConfig, ct);
        // nsenter, not `ip netns exec`: the latter remounts /sys, which hides the cgroup hierarchy LXC needs. LXC checks a
        // bridge through /sys too, so the container's veth joins the host's bridge right after the start.
        await Must($"nsenter --net=/run/netns/{hostNs} lxc-start -P {lxcPath} -n {name} -d", ct);
        await Must($"ip netns exec {hostNs} ip link set {Veth(spec, host, index)} master br0 up", ct);
        if (path is not null)
        {
            await ForwardRoutesAsync(spec, path, ct);
        }

        var port = Forward(state, name, hostNs, address);
        state.Machines.Add(new LabMachine(name, hostNs, address, port, fingerprint, false, "lxc", $"host{host}"));
        Save(state);
    }

    /// <summary>An sshd of the lab's own: key-only, one host key, its files in the lab directory (no PAM, no system config).</summary>
    public static string SshdConfig(string listenAddress, int port, string hostKey, string pidFile, string authorizedKeys) => $"""
        ListenAddress {listenAddress}
        Port {port}
        HostKey {hostKey}
        PidFile {pidFile}
        AuthorizedKeysFile {authorizedKeys}
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        UsePAM no
        StrictModes no
        PermitRootLogin prohibit-password
        Subsystem sftp internal-sftp
        LogLevel ERROR
        MaxStartups 50
        """;

    /// <summary>A guest's root: a copy of the cached rootfs with its own host key and the lab's client key; returns the key's fingerprint.</summary>
    private static async Task<string> GuestRootAsync(string rootfsCache, string root, string labDir, CancellationToken ct)
    {
        await Must($"cp -a --reflink=auto {rootfsCache} {root}", ct);
        await Must($"chroot {root} ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key", ct);
        System.IO.Directory.CreateDirectory($"{root}/root/.ssh");
        File.Copy(Path.Combine(labDir, "authorized_keys"), $"{root}/root/.ssh/authorized_keys", overwrite: true);
        await File.WriteAllTextAsync($"{root}/etc/ssh/sshd_config.d/horizon.conf", "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nHostKey /etc/ssh/ssh_host_ed25519_key\n" +
            // Software-emulated guests (a Xen domU under nested TCG) authenticate slowly: the controller's sessions, tool
            // checks and followers must not be turned away as too many unauthenticated startups or sessions.
            "MaxStartups 100\nMaxSessions 100\nLoginGraceTime 600\n", ct);
        return (await Output($"ssh-keygen -lf {root}/etc/ssh/ssh_host_ed25519_key.pub", ct)).Split(' ')[1];
    }

    /// <summary>A loopback port that leads to a machine's sshd inside the lab (socat; each connection enters the namespace).</summary>
    private static int Forward(LabState state, string name, string ns, string address)
    {
        var port = FreePort();
        var forwarder = Spawn($"exec socat TCP4-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork EXEC:'ip netns exec {ns} socat STDIO TCP4\\:{address}\\:22'");
        state.Processes.Add(new LabProcess(forwarder, $"TCP4-LISTEN:{port}", $"{name} ssh forwarder"));
        return port;
    }

    /// <summary>
    /// A MAC address of the VM's own. QEMU gives every NIC 52:54:00:12:34:56 unless told otherwise; two VMs on one bridge
    /// then take turns owning it and lose each other's packets (seen here as SSH stalls of up to 30 s).
    /// </summary>
    private static string Mac(LabSpec spec, int host, int index, int nic = 0) => $"52:54:{nic & 0xff:x2}:{spec.Subnet & 0xff:x2}:{host & 0xff:x2}:{index & 0xff:x2}";

    /// <summary>Names of a forwarding path's interfaces outside the guest: s/k the source's and sink's ends, i/o the guest side on its host.</summary>
    private static string ForwardIf(LabSpec spec, LabForwardPath path, char end) => $"hz{spec.Subnet}f{end}{path.Index}";

    private static string ForwardNamespace(LabSpec spec, int index, char end) => spec.Namespace($"f{index}{end}");

    private static LabForwardPath NextForwardPath(LabSpec spec, LabState state, string guest)
    {
        var j = state.Forward.Count + 1;
        var path = new LabForwardPath(j, ForwardNamespace(spec, j, 's'), ForwardNamespace(spec, j, 'k'), $"10.{spec.Subnet + 1}.{j}.1", $"10.{spec.Subnet + 2}.{j}.1", $"10.{spec.Subnet + 2}.{j}.2");
        state.Forward[guest] = path;
        return path;
    }

    /// <summary>The source and sink namespaces of path j, with the direct source→sink link the generator's ceiling is measured on.</summary>
    private async Task ForwardNamespacesAsync(LabSpec spec, LabState state, int j, CancellationToken ct)
    {
        string src = ForwardNamespace(spec, j, 's'), snk = ForwardNamespace(spec, j, 'k'), direct = $"10.{spec.Subnet + 3}.{j}";
        await Netns(state, src, ct);
        await Netns(state, snk, ct);
        await Must($"ip -n {src} link set lo up && ip -n {snk} link set lo up && " +
                   $"ip -n {src} link add hzdirect type veth peer name hzdirect netns {snk} && " +
                   $"ip -n {src} addr add {direct}.1/24 dev hzdirect && ip -n {snk} addr add {direct}.2/24 dev hzdirect && " +
                   $"ip -n {src} link set hzdirect up && ip -n {snk} link set hzdirect up && " +
                   $"ip -n {src} route add 192.0.2.0/24 via {direct}.2 && " +
                   // The sink takes every routed destination as its own (AnyIP), so one socket counts them all.
                   $"ip -n {snk} route add local 192.0.2.0/24 dev lo && ip -n {snk} route add local 198.18.0.0/15 dev lo && " +
                   $"ip netns exec {snk} sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0", ct);
    }

    /// <summary>Addresses the source's and sink's link ends and routes the benchmark range through the guest.</summary>
    private static async Task ForwardRoutesAsync(LabSpec spec, LabForwardPath path, CancellationToken ct)
    {
        string s = ForwardIf(spec, path, 's'), k = ForwardIf(spec, path, 'k');
        await Must($"ip -n {path.SourceNetns} addr add 10.{spec.Subnet + 1}.{path.Index}.2/24 dev {s} && ip -n {path.SourceNetns} link set {s} up && " +
                   $"ip -n {path.SinkNetns} addr add {path.Sink}/24 dev {k} && ip -n {path.SinkNetns} link set {k} up && " +
                   $"ip -n {path.SourceNetns} route add 198.18.0.0/15 via {path.GuestIn} && " +
                   $"ip -n {path.SinkNetns} route add 10.{spec.Subnet + 1}.{path.Index}.0/24 via {path.GuestOut}", ct);
    }

    private static string Veth(LabSpec spec, int host, int index) => $"hz{spec.Subnet}l{host}x{index}";

    /// <summary>The core a 1-vCPU container is pinned to (cpuset cgroup): core 0 stays with the host, containers take the rest in turn.</summary>
    private static int LxcCore(int index) => Environment.ProcessorCount == 1 ? 0 : 1 + ((index - 1) % (Environment.ProcessorCount - 1));

    /// <summary>
    /// A QEMU full-system guest (TCG here: no KVM) booting Debian's kernel through the lab's busybox initramfs, with a root
    /// disk made from the same rootfs, on a tap device on the host's bridge.
    /// </summary>
    private async Task StartQemuAsync(LabSpec spec, LabState state, string dir, int host, int index, Action<string>? log, CancellationToken ct)
    {
        var rootfsCache = spec.Rootfs ?? throw new InvalidOperationException("QEMU guests need the lab's root filesystem: scripts/build-rootfs.sh");
        var kernel = spec.VmKernel ?? throw new InvalidOperationException("QEMU guests need the lab's VM kernel: scripts/build-vm.sh");
        if (!File.Exists(Path.Combine(rootfsCache, ".horizon-rootfs")) || !File.Exists(Path.Combine(kernel, ".horizon-vm")))
        {
            throw new InvalidOperationException($"QEMU guests need {rootfsCache} and {kernel}: run scripts/build-rootfs.sh and scripts/build-vm.sh");
        }

        if (await Sh("command -v qemu-system-x86_64 && command -v mkfs.ext4", ct) != 0)
        {
            throw new InvalidOperationException("QEMU guests need qemu-system-x86_64 and mkfs.ext4: apt-get install qemu-system-x86 e2fsprogs");
        }

        var name = $"host{host}-qemu{index}";
        var address = spec.Address(150 + ((host - 1) * 10) + index);
        var hostNs = spec.Namespace($"host{host}");
        log?.Invoke($"lab {spec.Name}: {name} ({address}), QEMU (TCG) on host{host}");
        var vmDir = Path.Combine(dir, "qemu", name);
        var staging = Path.Combine(vmDir, "staging");
        System.IO.Directory.CreateDirectory(vmDir);
        var fingerprint = await GuestRootAsync(rootfsCache, staging, dir, ct);
        // The kernel-build workload's source, as Debian's linux-source puts it on the host.
        // Extracted here, at native speed, into the workload's source cache: extracting 1.5 GB under TCG takes many minutes.
        await Sh($"for src in /usr/src/linux-source-*.tar.*; do [ -f \"$src\" ] || continue; mkdir -p {staging}/usr/src && cp \"$src\" {staging}/usr/src/; " +
                 $"c={staging}{Workloads.KernelBuildWorkload.SourceCache}/$(basename \"$src\"); mkdir -p \"$c\" && tar -xf \"$src\" -C \"$c\" --strip-components=1 && touch \"$c/.horizon-extracted\"; done; true", ct);
        await File.WriteAllTextAsync($"{staging}/horizon-vm-init", VmInit, ct);
        await Must($"chmod +x {staging}/horizon-vm-init", ct);
        var disk = Path.Combine(vmDir, "root.ext4");
        await Must($"mkfs.ext4 -q -d {staging} {disk} 6G && rm -rf {staging}", ct);
        var tap = $"hz{spec.Subnet}q{host}x{index}";
        await Must($"ip netns exec {hostNs} ip tuntap add {tap} mode tap && ip netns exec {hostNs} ip link set {tap} master br0 up", ct);
        var forwardNics = "";
        var forwardArgs = "";
        LabForwardPath? path = null;
        if (spec.Forward)
        {
            // Each forwarding link: a tap for the VM's NIC and a veth to the source (or sink) namespace, on a bridge of their own.
            path = NextForwardPath(spec, state, name);
            foreach (var (side, peerNs, peerEnd, nic) in new[] { ('i', path.SourceNetns, 's', 1), ('o', path.SinkNetns, 'k', 2) })
            {
                var bridge = $"hz{spec.Subnet}b{side}{path.Index}";
                var ftap = $"hz{spec.Subnet}t{side}{path.Index}";
                await Must($"ip -n {hostNs} link add {bridge} type bridge && ip -n {hostNs} link set {bridge} up && " +
                           $"ip -n {peerNs} link add {ForwardIf(spec, path, peerEnd)} type veth peer name {ForwardIf(spec, path, side)} netns {hostNs} && " +
                           $"ip -n {hostNs} link set {ForwardIf(spec, path, side)} master {bridge} up && " +
                           $"ip netns exec {hostNs} ip tuntap add {ftap} mode tap && ip -n {hostNs} link set {ftap} master {bridge} up", ct);
                forwardNics += $" -netdev tap,id=n{nic},ifname={ftap},script=no,downscript=no -device virtio-net-pci,netdev=n{nic},mac={Mac(spec, host, index, nic)}";
            }

            forwardArgs = $" hz_fwdin={path.GuestIn}/24 hz_fwdout={path.GuestOut}/24";
        }

        await StartQemuProcessAsync(state, hostNs, vmDir, disk, $"{name} qemu",
            $"-name {name} -smp 1 -m 1024 " +
            $"-kernel {kernel}/vmlinuz -initrd {kernel}/initrd.img -append 'console=ttyS0 root=/dev/vda rw net.ifnames=0 quiet hz_ip={address}/24 hz_name={name}{forwardArgs}' " +
            $"-drive file={disk},if=virtio,format=raw,cache=unsafe -netdev tap,id=n0,ifname={tap},script=no,downscript=no -device virtio-net-pci,netdev=n0,mac={Mac(spec, host, index)}{forwardNics} " +
            $"-qmp unix:{vmDir}/qmp.sock,server,nowait", ct);
        var threads = await Qmp.VcpuThreadsAsync(Path.Combine(vmDir, "qmp.sock"), ct);
        state.VcpuThreads[name] = threads;
        log?.Invoke($"lab {spec.Name}: {name} vCPU threads (QMP query-cpus-fast): {string.Join(", ", threads)}");
        if (path is not null)
        {
            await ForwardRoutesAsync(spec, path, ct);
        }

        var port = Forward(state, name, hostNs, address);
        state.Machines.Add(new LabMachine(name, hostNs, address, port, fingerprint, false, "qemu", $"host{host}"));
        Save(state);
    }

    /// <summary>
    /// The init a lab VM (and a Xen domU) switches to from the initramfs: its address and name from the kernel command
    /// line, forwarding links when it has them, sshd.
    /// </summary>
    private const string VmInit = """
        #!/bin/bash
        mount -t proc proc /proc; mount -t sysfs sys /sys
        mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /tmp; mount -t tmpfs tmpfs /dev/shm
        ln -sf /proc/self/fd /dev/fd; ln -sf /proc/self/fd/0 /dev/stdin; ln -sf /proc/self/fd/1 /dev/stdout; ln -sf /proc/self/fd/2 /dev/stderr
        hostname "$(sed -n 's/.*hz_name=\([^ ]*\).*/\1/p' /proc/cmdline)"
        ip link set lo up; ip addr add "$(sed -n 's/.*hz_ip=\([^ ]*\).*/\1/p' /proc/cmdline)" dev eth0; ip link set eth0 up
        # Forwarding links (horizon lab --forward): the second and third NIC, renamed as on the other guests.
        for f in fwdin:eth1 fwdout:eth2; do
          a=$(sed -n "s/.*hz_${f%%:*}=\([^ ]*\).*/\1/p" /proc/cmdline); [ -n "$a" ] || continue
          ip link set "${f#*:}" name "${f%%:*}"; ip addr add "$a" dev "${f%%:*}"; ip link set "${f%%:*}" up
        done
        # Room for the socket buffers the network workloads ask for (this guest kernel's own setting).
        echo 8388608 > /proc/sys/net/core/rmem_max; echo 8388608 > /proc/sys/net/core/wmem_max
        mkdir -p /run/sshd; /usr/sbin/sshd -e
        echo "horizon: guest up"
        while :; do wait; sleep 1; done
        """;

    /// <summary>
    /// Starts a QEMU (TCG) machine in a lab host's network namespace, daemonized, its serial console logged in its
    /// directory, and records its pid (with <paramref name="marker"/> from its command line) so `lab down` ends it.
    /// </summary>
    private async Task StartQemuProcessAsync(LabState state, string hostNs, string vmDir, string marker, string role, string arguments, CancellationToken ct, string cpu = "max")
    {
        var pidFile = Path.Combine(vmDir, "qemu.pid");
        await Must(
            $"nsenter --net=/run/netns/{hostNs} qemu-system-x86_64 -accel tcg,thread=multi -machine q35 -cpu {cpu} {arguments} " +
            $"-display none -serial file:{vmDir}/console.log -daemonize -pidfile {pidFile}", ct);
        var pid = int.Parse((await File.ReadAllTextAsync(pidFile, ct)).Trim(), CultureInfo.InvariantCulture);
        state.Processes.Add(new LabProcess(pid, marker, role));
        Save(state);
    }

    private async Task Netns(LabState state, string ns, CancellationToken ct)
    {
        if (File.Exists($"/run/netns/{ns}"))
        {
            throw new InvalidOperationException($"network namespace {ns} already exists (another lab of this name?); remove it or pick another --name");
        }

        state.Namespaces.Add(ns);
        Save(state);
        await Must($"ip netns add {ns}", ct);
    }

    private void Save(LabState state)
    {
        System.IO.Directory.CreateDirectory(Path.Combine(Directory, state.Name));
        File.WriteAllText(StatePath(state.Name), JsonSerializer.Serialize(state, Json));
    }

    private static async Task WaitForSsh(LabMachine m, CancellationToken ct)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(m.Platform switch { "qemu" => 180, "xen" or XenDom0 => 300, _ => 30 });
        while (DateTime.UtcNow < until)
        {
            if (await Sh($"ip netns exec {m.Namespace} timeout 5 bash -c 'exec 3<>/dev/tcp/{m.Address}/22 && read -t 4 banner <&3' 2>/dev/null", ct) == 0)
            {
                return;
            }

            await Task.Delay(100, ct);
        }

        throw new InvalidOperationException($"sshd of {m.Name} ({m.Address}) did not answer");
    }

    /// <summary>Starts a long-lived process in its own session (it outlives this command); returns its pid.</summary>
    private static int Spawn(string command)
    {
        var start = new ProcessStartInfo("setsid") { UseShellExecute = false, RedirectStandardOutput = true };
        foreach (var a in new[] { "-f", "bash", "-c", $"{command} > /dev/null 2>&1 < /dev/null & echo $!" })
        {
            start.ArgumentList.Add(a);
        }

        using var p = Process.Start(start)!;
        var pid = p.StandardOutput.ReadLine();
        p.WaitForExit();
        return int.Parse(pid!.Trim(), CultureInfo.InvariantCulture);
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    internal static async Task Must(string command, CancellationToken ct)
    {
        var (code, _, error) = await Run(command, ct);
        if (code != 0)
        {
            throw new InvalidOperationException($"lab: `{command}` failed: {error.Trim()}");
        }
    }

    private static async Task<int> Sh(string command, CancellationToken ct) => (await Run(command, ct)).Code;

    private static async Task<string> Output(string command, CancellationToken ct)
    {
        var (code, output, error) = await Run(command, ct);
        return code == 0 ? output : throw new InvalidOperationException($"lab: `{command}` failed: {error.Trim()}");
    }

    /// <summary>Runs a bash command line; its exit code, output and error output.</summary>
    internal static async Task<(int Code, string Output, string Error)> Run(string command, CancellationToken ct)
    {
        var start = new ProcessStartInfo("bash") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(command);
        using var p = Process.Start(start)!;
        var output = p.StandardOutput.ReadToEndAsync(ct);
        var error = p.StandardError.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        return (p.ExitCode, await output, await error);
    }
}
