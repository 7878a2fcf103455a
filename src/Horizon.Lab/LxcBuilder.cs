using Horizon.Config;
namespace Horizon.Lab;

/// <summary>LXC guests of the lab: a container per guest on a lab host, its own root and sshd, pinned to a core.</summary>
internal static class LxcBuilder
{
    /// <summary>An LXC container on a lab host: its own copy of the cached rootfs, sshd as init, a veth on the host's bridge.</summary>
    public static async Task StartAsync(LabSession lab, int host, int index, CancellationToken ct)
    {
        var spec = lab.Spec;
        var rootfsCache = spec.Rootfs ?? throw new LabException("LXC guests need the lab's root filesystem: scripts/build-rootfs.sh builds it (.cache/rootfs/bookworm)");
        if (!File.Exists(Path.Combine(rootfsCache, ".horizon-rootfs")))
        {
            throw new LabException($"no root filesystem at {rootfsCache}: run scripts/build-rootfs.sh");
        }

        if (await Shell.Sh("command -v lxc-start", ct) != 0)
        {
            throw new LabException("LXC guests need LXC: apt-get install lxc");
        }

        var name = $"host{host}-lxc{index}";
        var address = spec.Address(100 + ((host - 1) * 10) + index);
        var hostNs = spec.Namespace($"host{host}");
        lab.Log($"{name} ({address}), LXC on host{host}");
        var lxcPath = Path.Combine(lab.Directory, "lxc");
        var rootfs = Path.Combine(lxcPath, name, "rootfs");
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(rootfs)!);
        lab.State.Containers.Add(new LabContainer(name, hostNs, lxcPath));
        lab.Save();
        var fingerprint = await GuestRoots.CopyAsync(rootfsCache, rootfs, lab.Directory, ct);
        await File.WriteAllTextAsync($"{rootfs}/horizon-init", "#!/bin/sh\nmkdir -p /run/sshd\nexec /usr/sbin/sshd -D -e\n", ct);
        var forwardConfig = "";
        LabForwardPath? path = null;
        if (spec.Forward)
        {
            // Two veth pairs whose guest ends LXC moves into the container (type phys), with their addresses.
            path = ForwardingPaths.Next(spec, lab.State, name);
            await Shell.Must($"ip -n {path.SourceNetns} link add {ForwardingPaths.Interface(spec, path, 's')} type veth peer name {ForwardingPaths.Interface(spec, path, 'i')} netns {hostNs} && " +
                       $"ip -n {path.SinkNetns} link add {ForwardingPaths.Interface(spec, path, 'k')} type veth peer name {ForwardingPaths.Interface(spec, path, 'o')} netns {hostNs}", ct);
            forwardConfig = $"""

                lxc.net.1.type = phys
                lxc.net.1.link = {ForwardingPaths.Interface(spec, path, 'i')}
                lxc.net.1.name = fwdin
                lxc.net.1.flags = up
                lxc.net.1.ipv4.address = {path.GuestIn}/24
                lxc.net.2.type = phys
                lxc.net.2.link = {ForwardingPaths.Interface(spec, path, 'o')}
                lxc.net.2.name = fwdout
                lxc.net.2.flags = up
                lxc.net.2.ipv4.address = {path.GuestOut}/24
                """;
        }

        await Shell.Must($"chmod +x {rootfs}/horizon-init", ct);
        await File.WriteAllTextAsync(Path.Combine(lxcPath, name, "config"), $"""
            lxc.uts.name = {name}
            lxc.rootfs.path = dir:{rootfs}
            lxc.include = /usr/share/lxc/config/common.conf
            lxc.apparmor.profile = unconfined
            lxc.net.0.type = veth
            lxc.net.0.veth.pair = {LabNetwork.Veth(spec, host, index)}
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
        await Shell.Must($"nsenter --net=/run/netns/{hostNs} lxc-start -P {lxcPath} -n {name} -d", ct);
        await Shell.Must($"ip netns exec {hostNs} ip link set {LabNetwork.Veth(spec, host, index)} master br0 up", ct);
        if (path is not null)
        {
            await ForwardingPaths.RoutesAsync(spec, path, ct);
        }

        var port = LabNetwork.SshForwarder(lab, name, hostNs, address);
        lab.State.Machines.Add(new LabMachine(name, hostNs, address, port, fingerprint, false, Names.Of(Platform.Lxc), $"host{host}"));
        lab.Save();
    }

    /// <summary>The core a 1-vCPU container is pinned to (cpuset cgroup): core 0 stays with the host, containers take the rest in turn.</summary>
    private static int LxcCore(int index) => Environment.ProcessorCount == 1 ? 0 : 1 + ((index - 1) % (Environment.ProcessorCount - 1));
}
