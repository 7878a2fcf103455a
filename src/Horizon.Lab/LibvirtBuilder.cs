using Horizon.Config;

namespace Horizon.Lab;

/// <summary>
/// KVM's tool chain on this machine: the lab's **own** libvirtd and virtlogd (Debian's libvirt 9) in the host's network
/// namespace and a private mount namespace — their sockets, state, logs and configuration bind-mounted from the lab
/// directory over /run/libvirt, /var/lib/libvirt, /var/cache/libvirt, /var/log/libvirt and /etc/libvirt, so nothing of a
/// system libvirt is touched — and `type='qemu'` (TCG: no /dev/kvm here) domains defined and started through it, booting
/// the lab's VM kernel and a root disk made from the rootfs, on a tap of the host's bridge. Reached over SSH; the kvm
/// adapter pins and reads back with the lab's `virsh -c 'qemu:///system?socket=…'`.
/// </summary>
internal static class LibvirtBuilder
{
    public static async Task<string> StartDaemonAsync(LabSession lab, int host, CancellationToken ct)
    {
        if (!File.Exists("/usr/sbin/libvirtd") || !File.Exists("/usr/bin/virsh"))
        {
            throw new LabException("libvirt guests need libvirt: apt-get install libvirt-daemon-system libvirt-clients");
        }

        var hostNs = lab.Spec.Namespace($"host{host}");
        var dir = Path.Combine(lab.Directory, $"libvirt{host}");
        foreach (var d in new[] { "run", "lib", "cache", "log", "etc" })
        {
            System.IO.Directory.CreateDirectory(Path.Combine(dir, d));
        }

        // The package's configuration, with QEMU run as root without a security driver (the lab's disks are root's), and
        // no default network (a libvirt bridge and dnsmasq are not the lab's).
        await Shell.Must($"cp -a /etc/libvirt/. {dir}/etc/ && rm -f {dir}/etc/qemu/networks/autostart/*.xml && " +
            $"printf 'user = \"root\"\\ngroup = \"root\"\\nsecurity_driver = \"none\"\\n' >> {dir}/etc/qemu.conf", ct);
        var socket = Path.Combine(dir, "run", "libvirt-sock");
        var virsh = $"virsh -c 'qemu:///system?socket={socket}'";
        lab.Log($"libvirtd for host{host} (its own sockets, state and configuration in {dir})");
        var mounts = $"mount -t tmpfs tmpfs /run && mkdir -p /run/libvirt && mount --bind {dir}/run /run/libvirt && mount --bind {dir}/lib /var/lib/libvirt && " +
            $"mount --bind {dir}/cache /var/cache/libvirt && mount --bind {dir}/log /var/log/libvirt && mount --bind {dir}/etc /etc/libvirt";
        var pid = Shell.Spawn($"nsenter --net=/run/netns/{hostNs} unshare --mount --propagation private sh -c '{mounts} && virtlogd -d && exec libvirtd'");
        lab.State.Processes.Add(new LabProcess(pid, "libvirtd", $"host{host} libvirtd"));
        lab.State.Engines.Add(new LabEngine("libvirt", virsh, dir, []));
        lab.Save();
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (await Shell.Sh($"{virsh} version > /dev/null 2>&1", ct) != 0)
        {
            if (DateTime.UtcNow > until)
            {
                throw new LabException($"libvirtd for host{host} did not answer on {socket} within 60 s");
            }

            await Task.Delay(250, ct);
        }

        return virsh;
    }

    public static async Task StartGuestAsync(LabSession lab, int host, int index, string virsh, CancellationToken ct)
    {
        var spec = lab.Spec;
        var rootfs = spec.Rootfs ?? throw new LabException("libvirt guests need the lab's root filesystem: scripts/build-rootfs.sh");
        var kernel = spec.VmKernel ?? throw new LabException("libvirt guests need the lab's VM kernel: scripts/build-vm.sh");
        if (!File.Exists(Path.Combine(rootfs, ".horizon-rootfs")) || !File.Exists(Path.Combine(kernel, ".horizon-vm")))
        {
            throw new LabException($"libvirt guests need {rootfs} and {kernel}: run scripts/build-rootfs.sh and scripts/build-vm.sh");
        }

        var name = $"host{host}-kvm{index}";
        var address = spec.Address(170 + ((host - 1) * 10) + index);
        var hostNs = spec.Namespace($"host{host}");
        lab.Log($"{name} ({address}), libvirt domain type='qemu' (TCG) on host{host}");
        var vmDir = Path.Combine(lab.Directory, "libvirt-vms", name);
        var (disk, fingerprint) = await QemuBuilder.PrepareDiskAsync(lab, rootfs, vmDir, ct);
        var tap = $"hz{spec.Subnet}v{host}x{index}";
        await Shell.Must($"ip netns exec {hostNs} ip tuntap add {tap} mode tap && ip netns exec {hostNs} ip link set {tap} master br0 up", ct);
        var xml = Path.Combine(vmDir, "domain.xml");
        await File.WriteAllTextAsync(xml, $"""
            <domain type='qemu'>
              <name>{name}</name>
              <memory unit='MiB'>1024</memory>
              <vcpu placement='static'>1</vcpu>
              <os>
                <type arch='x86_64' machine='q35'>hvm</type>
                <kernel>{kernel}/vmlinuz</kernel>
                <initrd>{kernel}/initrd.img</initrd>
                <cmdline>console=ttyS0 root=/dev/vda rw net.ifnames=0 quiet hz_ip={address}/24 hz_name={name}</cmdline>
              </os>
              <cpu mode='maximum'/>
              <on_crash>destroy</on_crash>
              <devices>
                <emulator>/usr/bin/qemu-system-x86_64</emulator>
                <disk type='file' device='disk'>
                  <driver name='qemu' type='raw' cache='unsafe'/>
                  <source file='{disk}'/>
                  <target dev='vda' bus='virtio'/>
                </disk>
                <interface type='ethernet'>
                  <target dev='{tap}' managed='no'/>
                  <mac address='{LabNetwork.Mac(spec, host, 50 + index)}'/>
                  <model type='virtio'/>
                </interface>
                <serial type='file'><source path='{vmDir}/console.log'/></serial>
              </devices>
            </domain>
            """, ct);
        lab.State.Engines.Last(e => e.Kind == "libvirt").Containers.Add(name);
        lab.Save();
        await Shell.Must($"{virsh} define {xml} > /dev/null && {virsh} start {name} > /dev/null", ct);
        var port = LabNetwork.SshForwarder(lab, name, hostNs, address);
        lab.State.Machines.Add(new LabMachine(name, hostNs, address, port, fingerprint, false, Names.Of(Platform.Kvm), $"host{host}") { Engine = virsh });
        lab.Save();
    }
}
