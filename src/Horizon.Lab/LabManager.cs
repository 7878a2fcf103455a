using Horizon.Config;

namespace Horizon.Lab;

/// <summary>
/// Builds and tears down, on this machine, test hosts and a network peer as network namespaces on one bridge, each
/// with its own sshd, and the guests on them (LXC, QEMU, a nested Xen host). Nothing is added to the root namespace:
/// the bridge lives in the lab's controller namespace (where the timing service opens its probe socket), and each sshd
/// is reached through a loopback forwarder. Every step is recorded before it is taken, so `lab down` undoes a crash.
/// </summary>
public sealed class LabManager(string directory)
{
    /// <summary>The platform recorded for the Xen host's dom0 machine (a host, not a guest).</summary>
    public const string XenDom0 = XenBuilder.Dom0;

    public const string XenHostName = XenBuilder.HostName;

    private readonly LabStateFiles files = new(directory);

    public string Directory => files.Directory;

    public LabState? Read(string name) => files.Read(name);

    public async Task<LabState> UpAsync(LabSpec spec, Action<string>? log = null, CancellationToken ct = default)
    {
        if (Read(spec.Name) is not null)
        {
            throw new LabException($"lab '{spec.Name}' is already up ({files.PathOf(spec.Name)}); run `horizon lab down --name {spec.Name}` first");
        }

        foreach (var tool in new[] { "ip", "socat", "/usr/sbin/sshd", "ssh-keygen", "unshare" })
        {
            if (await Shell.Sh($"command -v {tool}", ct) != 0)
            {
                throw new LabException($"the lab needs {tool}: apt-get install {(tool.Contains("sshd") || tool == "ssh-keygen" ? "openssh-server" : tool == "socat" ? "socat" : "iproute2")}");
            }
        }

        var dir = Path.Combine(Directory, spec.Name);
        System.IO.Directory.CreateDirectory(Path.Combine(dir, "empty"));
        System.IO.Directory.CreateDirectory("/run/sshd");
        var lab = new LabSession(spec, new LabState { Name = spec.Name }, dir, files, log);
        lab.Save();
        try
        {
            await BuildAsync(lab, ct);
            lab.State.TestbedFile = Path.Combine(dir, "testbed.yaml");
            await File.WriteAllTextAsync(lab.State.TestbedFile, LabTestbed.Yaml(spec, lab.State, lab.ClientKey, dir), ct);
            lab.Save();
            return lab.State;
        }
        catch
        {
            await DownAsync(spec.Name, log, CancellationToken.None);
            throw;
        }
    }

    private static async Task BuildAsync(LabSession lab, CancellationToken ct)
    {
        var spec = lab.Spec;
        var ctl = spec.Namespace("ctl");
        await LabNetwork.NamespaceAsync(lab, ctl, ct);
        await Shell.Must($"ip netns exec {ctl} ip link set lo up && ip netns exec {ctl} ip link add br0 type bridge && ip netns exec {ctl} ip addr add {spec.ProbeAddress}/24 dev br0 && ip netns exec {ctl} ip link set br0 up", ct);
        if (spec.Forward)
        {
            var paths = CheckForwarding(spec);

            // Before any sshd starts: the peer's sshd runs in a private copy of the mount table, and the generator it
            // starts enters the source and sink namespaces through /run/netns.
            for (var j = 1; j <= paths; j++)
            {
                await ForwardingPaths.NamespacesAsync(lab, j, ct);
            }
        }

        await Shell.Must($"ssh-keygen -q -t ed25519 -N '' -f {lab.ClientKey}", ct);
        File.Copy(lab.ClientKey + ".pub", Path.Combine(lab.Directory, "authorized_keys"), overwrite: true);
        var machines = Enumerable.Range(1, spec.Hosts).Select(i => ($"host{i}", false, 9 + i)).ToList();
        if (spec.Peer)
        {
            machines.Add(("peer", true, 2));
        }

        foreach (var (name, isPeer, octet) in machines)
        {
            await MachineBuilder.StartAsync(lab, name, isPeer, octet, ct);
        }

        if (spec.Forward)
        {
            foreach (var m in lab.State.Machines.Where(m => !m.IsPeer).ToList())
            {
                await MachineBuilder.ForwardLinksAsync(lab, m, ct);
            }
        }

        for (var h = 1; h <= spec.Hosts; h++)
        {
            for (var k = 1; k <= spec.LxcGuests; k++)
            {
                await LxcBuilder.StartAsync(lab, h, k, ct);
            }

            for (var k = 1; k <= spec.QemuGuests; k++)
            {
                await QemuBuilder.StartAsync(lab, h, k, ct);
            }

            if (spec.LibvirtGuests > 0)
            {
                var virsh = await LibvirtBuilder.StartDaemonAsync(lab, h, ct);
                for (var k = 1; k <= spec.LibvirtGuests; k++)
                {
                    await LibvirtBuilder.StartGuestAsync(lab, h, k, virsh, ct);
                }
            }

            if (spec.DockerGuests > 0)
            {
                await EngineBuilder.StartAsync(lab, "docker", h, spec.DockerGuests, ct);
            }

            if (spec.PodmanGuests > 0)
            {
                await EngineBuilder.StartAsync(lab, "podman", h, spec.PodmanGuests, ct);
            }
        }

        if (spec.XenGuests > 0)
        {
            await XenBuilder.StartAsync(lab, ct);
        }

        foreach (var m in lab.State.Machines.Where(m => m.Platform != Names.Of(Platform.Xen) && m.SshPort != 0).ToList())
        {
            await LabNetwork.WaitForSshAsync(m, ct);
            if (m.Platform == XenBuilder.Dom0)
            {
                await XenBuilder.CreateDomUsAsync(lab, m, ct);
            }
        }
    }

    /// <summary>The number of forwarding paths the lab needs, after checking the spec allows them.</summary>
    private static int CheckForwarding(LabSpec spec)
    {
        if (!spec.Peer)
        {
            throw new LabException("--forward needs the network peer (it runs the traffic source and sink): leave out --no-peer");
        }

        if (spec.Subnet > 252)
        {
            throw new LabException("--forward uses the subnets 10.(S+1..S+3).0.0/16: pick --subnet 252 or lower");
        }

        if (spec.DockerGuests + spec.PodmanGuests + spec.LibvirtGuests > 0)
        {
            throw new LabException("--forward gives each guest its own links; not yet to docker, podman or libvirt guests (leave them out, or --forward out)");
        }

        var paths = spec.Hosts * (1 + spec.LxcGuests + spec.QemuGuests);
        return paths <= 250 ? paths
            : throw new LabException($"--forward gives each guest its own links; {paths} guests is more than the 250 the addressing allows");
    }

    /// <summary>Removes everything the lab's state file records; safe to run twice and after a crash.</summary>
    public async Task<bool> DownAsync(string name, Action<string>? log = null, CancellationToken ct = default)
    {
        var state = Read(name);
        if (state is null)
        {
            return false;
        }

        // Containers first, while their engine runs: removing them takes their mounts along.
        foreach (var e in state.Engines)
        {
            await EngineBuilder.DownAsync(e, m => log?.Invoke($"lab {name}: {m}"), ct);
        }

        foreach (var p in state.Processes)
        {
            if (Shell.IsOurs(p))
            {
                log?.Invoke($"lab {name}: stopping {p.Role} (pid {p.Pid})");
                await Shell.Sh($"kill -KILL -- -{p.Pid} 2>/dev/null || kill -KILL {p.Pid} 2>/dev/null; true", ct);
            }
        }

        foreach (var c in state.Containers)
        {
            log?.Invoke($"lab {name}: stopping container {c.Name}");
            await Shell.Sh($"nsenter --net=/run/netns/{c.Namespace} lxc-stop -P {c.LxcPath} -n {c.Name} -k 2>/dev/null; true", ct);
        }

        foreach (var ns in Enumerable.Reverse(state.Namespaces))
        {
            if (File.Exists($"/run/netns/{ns}"))
            {
                // Processes still inside (a guest's leftovers) are ended first: only ours can be there.
                await Shell.Sh($"ip netns pids {ns} | xargs -r kill -KILL; ip netns del {ns}", ct);
                log?.Invoke($"lab {name}: removed namespace {ns}");
            }
        }

        // What an engine left mounted in its directory (dockerd's namespace handle) would stop the directory's removal.
        await EngineBuilder.UnmountUnderAsync(Path.Combine(Directory, name), ct);
        System.IO.Directory.Delete(Path.Combine(Directory, name), recursive: true);
        return true;
    }
}
