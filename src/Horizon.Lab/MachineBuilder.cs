namespace Horizon.Lab;

/// <summary>
/// The lab's machines: test hosts and the network peer, each a network namespace on the lab's bridge with a bridge of
/// its own (guests it hosts join the lab's subnet through it) and its own sshd, key-only, in a private mount table.
/// </summary>
internal static class MachineBuilder
{
    public static async Task StartAsync(LabSession lab, string name, bool isPeer, int octet, CancellationToken ct)
    {
        var spec = lab.Spec;
        var dir = lab.Directory;
        var ctl = spec.Namespace("ctl");
        lab.Log($"{name} ({spec.Address(octet)})");
        var ns = spec.Namespace(name);
        await LabNetwork.NamespaceAsync(lab, ns, ct);
        var bridgePort = $"hz{spec.Subnet}b{octet}";
        await Shell.Must($"ip netns exec {ctl} ip link add {bridgePort} type veth peer name eth0 netns {ns}", ct);
        await Shell.Must($"ip netns exec {ctl} ip link set {bridgePort} master br0 up", ct);
        await Shell.Must($"ip netns exec {ns} ip link set lo up && ip netns exec {ns} ip link add br0 type bridge && ip netns exec {ns} ip link set eth0 master br0 && ip netns exec {ns} ip addr add {spec.Address(octet)}/24 dev br0 && ip netns exec {ns} ip link set eth0 up && ip netns exec {ns} ip link set br0 up", ct);
        var hostKey = Path.Combine(dir, $"{name}_host_ed25519");
        await Shell.Must($"ssh-keygen -q -t ed25519 -N '' -f {hostKey}", ct);
        var fingerprint = (await Shell.Output($"ssh-keygen -lf {hostKey}.pub", ct)).Split(' ')[1];
        var config = Path.Combine(dir, $"{name}_sshd_config");
        await File.WriteAllTextAsync(config, GuestRoots.SshdConfig(spec.Address(octet), 22, hostKey, $"{dir}/{name}_sshd.pid", $"{dir}/authorized_keys"), ct);
        // nsenter, not `ip netns exec`, so sessions on the host see the cgroup tree (the lxc adapter's lxc-cgroup needs it).
        var sshd = Shell.Spawn($"nsenter --net=/run/netns/{ns} unshare --mount --propagation private sh -c 'mount --bind {dir}/empty /root && exec /usr/sbin/sshd -D -f {config} -E {dir}/{name}_sshd.log'");
        lab.State.Processes.Add(new LabProcess(sshd, config, $"{name} sshd"));
        lab.Save();
        var port = LabNetwork.SshForwarder(lab, name, ns, spec.Address(octet));
        lab.State.Machines.Add(new LabMachine(name, ns, spec.Address(octet), port, fingerprint, isPeer));
        lab.Save();
    }

    /// <summary>A test host's own forwarding links (its native guest routes between the peer's source and sink).</summary>
    public static async Task ForwardLinksAsync(LabSession lab, LabMachine m, CancellationToken ct)
    {
        var spec = lab.Spec;
        var path = ForwardingPaths.Next(spec, lab.State, m.Name);
        await Shell.Must($"ip -n {path.SourceNetns} link add {ForwardingPaths.Interface(spec, path, 's')} type veth peer name fwdin netns {m.Namespace} && " +
                   $"ip -n {path.SinkNetns} link add {ForwardingPaths.Interface(spec, path, 'k')} type veth peer name fwdout netns {m.Namespace} && " +
                   $"ip -n {m.Namespace} addr add {path.GuestIn}/24 dev fwdin && ip -n {m.Namespace} addr add {path.GuestOut}/24 dev fwdout && " +
                   $"ip -n {m.Namespace} link set fwdin up && ip -n {m.Namespace} link set fwdout up", ct);
        await ForwardingPaths.RoutesAsync(spec, path, ct);
    }
}
