using System.Globalization;
using Horizon.Config;

namespace Horizon.Lab;

/// <summary>QEMU guests of the lab (TCG here: no KVM), and the QEMU machine start the nested Xen host shares.</summary>
internal static class QemuBuilder
{
    /// <summary>
    /// A QEMU full-system guest (TCG here: no KVM) booting Debian's kernel through the lab's busybox initramfs, with a root
    /// disk made from the same rootfs, on a tap device on the host's bridge.
    /// </summary>
    public static async Task StartAsync(LabSession lab, int host, int index, CancellationToken ct)
    {
        var spec = lab.Spec;
        var rootfsCache = spec.Rootfs ?? throw new LabException("QEMU guests need the lab's root filesystem: scripts/build-rootfs.sh");
        var kernel = spec.VmKernel ?? throw new LabException("QEMU guests need the lab's VM kernel: scripts/build-vm.sh");
        if (!File.Exists(Path.Combine(rootfsCache, ".horizon-rootfs")) || !File.Exists(Path.Combine(kernel, ".horizon-vm")))
        {
            throw new LabException($"QEMU guests need {rootfsCache} and {kernel}: run scripts/build-rootfs.sh and scripts/build-vm.sh");
        }

        if (await Shell.Sh("command -v qemu-system-x86_64 && command -v mkfs.ext4", ct) != 0)
        {
            throw new LabException("QEMU guests need qemu-system-x86_64 and mkfs.ext4: apt-get install qemu-system-x86 e2fsprogs");
        }

        var name = $"host{host}-qemu{index}";
        var address = spec.Address(150 + ((host - 1) * 10) + index);
        var hostNs = spec.Namespace($"host{host}");
        lab.Log($"{name} ({address}), QEMU (TCG) on host{host}");
        var vmDir = Path.Combine(lab.Directory, "qemu", name);
        var (disk, fingerprint) = await PrepareDiskAsync(lab, rootfsCache, vmDir, ct);
        var tap = $"hz{spec.Subnet}q{host}x{index}";
        await Shell.Must($"ip netns exec {hostNs} ip tuntap add {tap} mode tap && ip netns exec {hostNs} ip link set {tap} master br0 up", ct);
        var forwardNics = "";
        var forwardArgs = "";
        LabForwardPath? path = null;
        if (spec.Forward)
        {
            // Each forwarding link: a tap for the VM's NIC and a veth to the source (or sink) namespace, on a bridge of their own.
            path = ForwardingPaths.Next(spec, lab.State, name);
            foreach (var (side, peerNs, peerEnd, nic) in new[] { ('i', path.SourceNetns, 's', 1), ('o', path.SinkNetns, 'k', 2) })
            {
                var bridge = $"hz{spec.Subnet}b{side}{path.Index}";
                var ftap = $"hz{spec.Subnet}t{side}{path.Index}";
                await Shell.Must($"ip -n {hostNs} link add {bridge} type bridge && ip -n {hostNs} link set {bridge} up && " +
                           $"ip -n {peerNs} link add {ForwardingPaths.Interface(spec, path, peerEnd)} type veth peer name {ForwardingPaths.Interface(spec, path, side)} netns {hostNs} && " +
                           $"ip -n {hostNs} link set {ForwardingPaths.Interface(spec, path, side)} master {bridge} up && " +
                           $"ip netns exec {hostNs} ip tuntap add {ftap} mode tap && ip -n {hostNs} link set {ftap} master {bridge} up", ct);
                forwardNics += $" -netdev tap,id=n{nic},ifname={ftap},script=no,downscript=no -device virtio-net-pci,netdev=n{nic},mac={LabNetwork.Mac(spec, host, index, nic)}";
            }

            forwardArgs = $" hz_fwdin={path.GuestIn}/24 hz_fwdout={path.GuestOut}/24";
        }

        await QemuBuilder.StartProcessAsync(lab, hostNs, vmDir, disk, $"{name} qemu",
            $"-name {name} -smp 1 -m 1024 " +
            $"-kernel {kernel}/vmlinuz -initrd {kernel}/initrd.img -append 'console=ttyS0 root=/dev/vda rw net.ifnames=0 quiet hz_ip={address}/24 hz_name={name}{forwardArgs}' " +
            $"-drive file={disk},if=virtio,format=raw,cache=unsafe -netdev tap,id=n0,ifname={tap},script=no,downscript=no -device virtio-net-pci,netdev=n0,mac={LabNetwork.Mac(spec, host, index)}{forwardNics} " +
            $"-qmp unix:{vmDir}/qmp.sock,server,nowait", ct);
        var threads = await Qmp.VcpuThreadsAsync(Path.Combine(vmDir, "qmp.sock"), ct);
        lab.State.VcpuThreads[name] = threads;
        lab.Log($"{name} vCPU threads (QMP query-cpus-fast): {string.Join(", ", threads)}");
        if (path is not null)
        {
            await ForwardingPaths.RoutesAsync(spec, path, ct);
        }

        var port = LabNetwork.SshForwarder(lab, name, hostNs, address);
        lab.State.Machines.Add(new LabMachine(name, hostNs, address, port, fingerprint, false, Names.Of(Platform.Qemu), $"host{host}"));
        lab.Save();
    }

    /// <summary>
    /// A VM's root disk: a copy of the lab rootfs (its own sshd host key, whose fingerprint is returned) with the kernel
    /// source extracted for kernel-build and the lab's VM init, as a 6 GB sparse ext4 image in <paramref name="vmDir"/>.
    /// </summary>
    public static async Task<(string Disk, string Fingerprint)> PrepareDiskAsync(LabSession lab, string rootfsCache, string vmDir, CancellationToken ct)
    {
        var staging = Path.Combine(vmDir, "staging");
        System.IO.Directory.CreateDirectory(vmDir);
        var fingerprint = await GuestRoots.CopyAsync(rootfsCache, staging, lab.Directory, ct);
        // The kernel-build workload's source, as Debian's linux-source puts it on the host.
        // Extracted here, at native speed, into the workload's source cache: extracting 1.5 GB under TCG takes many minutes.
        await Shell.Sh($"for src in /usr/src/linux-source-*.tar.*; do [ -f \"$src\" ] || continue; mkdir -p {staging}/usr/src && cp \"$src\" {staging}/usr/src/; " +
                 $"c={staging}{Workloads.KernelBuildWorkload.SourceCache}/$(basename \"$src\"); mkdir -p \"$c\" && tar -xf \"$src\" -C \"$c\" --strip-components=1 && touch \"$c/.horizon-extracted\"; done; true", ct);
        await File.WriteAllTextAsync($"{staging}/horizon-vm-init", VmInit, ct);
        await Shell.Must($"chmod +x {staging}/horizon-vm-init", ct);
        var disk = Path.Combine(vmDir, "root.ext4");
        await Shell.Must($"mkfs.ext4 -q -d {staging} {disk} 6G && rm -rf {staging}", ct);
        return (disk, fingerprint);
    }

    /// <summary>
    /// The init a lab VM (and a Xen domU) switches to from the initramfs: its address and name from the kernel command
    /// line, forwarding links when it has them, sshd.
    /// </summary>
    public const string VmInit = """
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
    public static async Task StartProcessAsync(LabSession lab, string hostNs, string vmDir, string marker, string role, string arguments, CancellationToken ct, string cpu = "max")
    {
        var pidFile = Path.Combine(vmDir, "qemu.pid");
        await Shell.Must(
            $"nsenter --net=/run/netns/{hostNs} qemu-system-x86_64 -accel tcg,thread=multi -machine q35 -cpu {cpu} {arguments} " +
            $"-display none -serial file:{vmDir}/console.log -daemonize -pidfile {pidFile}", ct);
        var pid = int.Parse((await File.ReadAllTextAsync(pidFile, ct)).Trim(), CultureInfo.InvariantCulture);
        lab.State.Processes.Add(new LabProcess(pid, marker, role));
        lab.Save();
    }
}
