using Horizon.Config;
namespace Horizon.Lab;

/// <summary>The lab's nested Xen host: Xen 4.17 under QEMU (TCG), a PV dom0 reached over SSH, PV domUs on its bridge.</summary>
internal static class XenBuilder
{
    /// <summary>The platform recorded for the Xen host's dom0 machine (a host, not a guest).</summary>
    public const string Dom0 = "xen-dom0";

    public const string HostName = "xen1";

    /// <summary>dom0 without systemd: Xen's modules and daemons, a bridge for the guests, sshd, then the guests.</summary>
    private const string Dom0Init = """
        #!/bin/bash
        export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        mount -t proc proc /proc; mount -t sysfs sys /sys
        mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /tmp; mount -t tmpfs tmpfs /dev/shm
        # What udev would add to devtmpfs: Xen's hotplug scripts lock through /dev/stdin (without it `xl create` hangs).
        ln -sf /proc/self/fd /dev/fd; ln -sf /proc/self/fd/0 /dev/stdin; ln -sf /proc/self/fd/1 /dev/stdout; ln -sf /proc/self/fd/2 /dev/stderr
        hostname "$(sed -n 's/.*hz_name=\([^ ]*\).*/\1/p' /proc/cmdline)"
        # No kmod in the image: busybox loads the modules, in dependency order.
        while read -r m; do busybox insmod "/horizon/modules/$m.ko" || echo "horizon: cannot load $m"; done < /horizon/modules/order
        mkdir -p /proc/xen && mount -t xenfs xenfs /proc/xen
        mkdir -p /run/xen /run/xenstored /var/lib/xen /var/log/xen
        /usr/lib/xen-4.17/bin/xenstored --pid-file /run/xenstored.pid
        for i in $(seq 1 50); do [ -S /run/xenstored/socket ] && break; sleep 0.1; done
        /usr/lib/xen-4.17/bin/xen-init-dom0
        mkdir -p /var/log/xen/console
        /usr/lib/xen-4.17/bin/xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console
        ip link set lo up
        ip link add xenbr0 type bridge; ip link set eth0 master xenbr0; ip link set eth0 up
        ip addr add "$(sed -n 's/.*hz_ip=\([^ ]*\).*/\1/p' /proc/cmdline)" dev xenbr0; ip link set xenbr0 up
        mkdir -p /run/sshd; /usr/sbin/sshd -e
        echo "horizon: dom0 up"
        # The domUs are created by the lab over SSH, one at a time, each once the previous one answers (see CreateDomUsAsync).
        while :; do wait; sleep 1; done
        """;

    /// <summary>
    /// Creates the domUs from the lab, one at a time, each waited for before the next: creating them together at dom0's
    /// boot under nested emulation sometimes lost the second one. A create that fails or whose domU does not answer is
    /// destroyed and tried again (3 attempts); the error then carries xl's output and the domU's console tail.
    /// </summary>
    public static async Task CreateDomUsAsync(LabSession lab, LabMachine dom0, CancellationToken ct)
    {
        var ssh = $"ssh -i {lab.ClientKey} -p {dom0.SshPort} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=20 root@127.0.0.1";
        foreach (var domu in lab.State.Machines.Where(m => m.Platform == Names.Of(Platform.Xen) && m.Host == dom0.Name).ToList())
        {
            var name = domu.Name[(dom0.Name.Length + 1)..];
            for (var attempt = 1; ; attempt++)
            {
                var started = DateTime.UtcNow;
                var (code, output, _) = await Shell.Run($"timeout 180 {ssh} 'xl create /etc/xen/horizon/{name}.cfg' 2>&1", ct);
                if (code == 0)
                {
                    try
                    {
                        await LabNetwork.WaitForSshAsync(domu, ct);
                        lab.Log($"{domu.Name} created and answering in {(DateTime.UtcNow - started).TotalSeconds:F0} s (attempt {attempt})");
                        break;
                    }
                    catch (LabException e)
                    {
                        output = e.Message;
                    }
                }

                var (_, console, _) = await Shell.Run($"timeout 60 {ssh} 'tail -n 15 /var/log/xen/console/guest-{name}.log; xl destroy {name}' 2>&1", ct);
                if (attempt == 3)
                {
                    throw new LabException($"{domu.Name}: `xl create` failed 3 times; last: {output.Trim()}\nconsole:\n{console.Trim()}");
                }

                lab.Log($"{domu.Name} not up (attempt {attempt}: {output.Trim()}); destroyed, trying again");
            }
        }
    }

    /// <summary>
    /// The nested Xen host's CPU: QEMU's "max" without XSAVE and the AVX family. With them, data copied inside dom0 and the
    /// domUs was corrupted now and then (SSH "MAC error" / "Bad packet length", a checksum of a piped file that differed) —
    /// the vector state does not survive Xen's context switches under TCG. SSE4.2/AES-NI stay.
    /// </summary>
    private const string XenCpu = "max,-xsave,-xsaveopt,-xsavec,-xsaves,-xgetbv1,-avx,-avx2,-vaes,-vpclmulqdq,-fma,-f16c,-avx512f";

    public static async Task StartAsync(LabSession lab, CancellationToken ct)
    {
        var spec = lab.Spec;
        var rootfsCache = spec.Rootfs ?? throw new LabException("the Xen host's domUs need the lab's root filesystem: scripts/build-rootfs.sh");
        var kernel = spec.VmKernel ?? throw new LabException("the Xen host needs the lab's VM kernel: scripts/build-vm.sh");
        var xen = spec.XenImage ?? throw new LabException("the Xen host needs its image: scripts/build-xen.sh");
        if (!File.Exists(Path.Combine(xen, ".horizon-xen")) || !File.Exists(Path.Combine(kernel, ".horizon-vm")) || !File.Exists(Path.Combine(rootfsCache, ".horizon-rootfs")))
        {
            throw new LabException($"the Xen host needs {rootfsCache}, {kernel} and {xen}: run scripts/build-rootfs.sh, scripts/build-vm.sh and scripts/build-xen.sh");
        }

        if (spec.XenGuests > 8)
        {
            throw new LabException("--xen: at most 8 domUs (they share the nested host's 3 GB)");
        }

        var hostNs = spec.Namespace("host1");
        var vmDir = Path.Combine(lab.Directory, "xen", HostName);
        System.IO.Directory.CreateDirectory(vmDir);
        var dom0Address = spec.Address(200);
        lab.Log($"{HostName} ({dom0Address}), Xen 4.17 nested in QEMU (TCG) on host1, dom0 + {spec.XenGuests} PV domU(s)");

        // dom0's disk: the Xen image's root with this lab's keys, its init, and one config per domU.
        var staging = Path.Combine(vmDir, "dom0");
        var dom0Fingerprint = await GuestRoots.CopyAsync(Path.Combine(xen, "dom0"), staging, lab.Directory, ct);
        await File.WriteAllTextAsync($"{staging}/horizon-vm-init", Dom0Init, ct);
        await Shell.Must($"chmod +x {staging}/horizon-vm-init", ct);
        System.IO.Directory.CreateDirectory($"{staging}/etc/xen/horizon");
        var disks = new List<string>();
        var domus = new List<(string Name, string Address, string Fingerprint)>();
        for (var k = 1; k <= spec.XenGuests; k++)
        {
            var domu = $"domu{k}";
            var address = spec.Address(200 + k);
            await File.WriteAllTextAsync($"{staging}/etc/xen/horizon/{domu}.cfg", $"""
                name = "{domu}"
                type = "pv"
                kernel = "/horizon/domu/vmlinuz"
                ramdisk = "/horizon/domu/initrd.img"
                extra = "console=hvc0 root=/dev/xvda rw net.ifnames=0 quiet hz_ip={address}/24 hz_name={HostName}-{domu}"
                memory = 512
                vcpus = 1
                vif = [ "bridge=xenbr0,mac=00:16:3e:{spec.Subnet & 0xff:x2}:{k:x2}:01" ]
                disk = [ "phy:/dev/vd{(char)('a' + k)},xvda,w" ]
                on_crash = "destroy"
                """, ct);

            // The domU's own disk (vdb, vdc, … in dom0): a copy of the lab's rootfs with its keys and the VMs' init.
            var domuStaging = Path.Combine(vmDir, domu);
            var fingerprint = await GuestRoots.CopyAsync(rootfsCache, domuStaging, lab.Directory, ct);
            await File.WriteAllTextAsync($"{domuStaging}/horizon-vm-init", QemuBuilder.VmInit, ct);
            await Shell.Must($"chmod +x {domuStaging}/horizon-vm-init", ct);
            var disk = Path.Combine(vmDir, $"{domu}.ext4");
            await Shell.Must($"mkfs.ext4 -q -d {domuStaging} {disk} 3G && rm -rf {domuStaging}", ct);
            disks.Add(disk);
            domus.Add((domu, address, fingerprint));
        }

        var dom0Disk = Path.Combine(vmDir, "dom0.ext4");
        await Shell.Must($"mkfs.ext4 -q -d {staging} {dom0Disk} 4G && rm -rf {staging}", ct);
        var tap = $"hz{spec.Subnet}xen";
        await Shell.Must($"ip netns exec {hostNs} ip tuntap add {tap} mode tap && ip netns exec {hostNs} ip link set {tap} master br0 up", ct);
        // smap=0: without it dom0 faults at once under TCG (FACTS); sched=credit: the study's scheduler (4.17 defaults to credit2).
        var drives = string.Concat(new[] { dom0Disk }.Concat(disks).Select(d => $" -drive file={d},if=virtio,format=raw,cache=unsafe"));
        await QemuBuilder.StartProcessAsync(lab, hostNs, vmDir, dom0Disk, $"{HostName} qemu (Xen)",
            $"-name {HostName} -smp 2 -m 3072 -no-reboot " +
            $"-kernel {xen}/xen -append 'console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M dom0_max_vcpus=2 noreboot sched=credit smap=0' " +
            $"-initrd '{kernel}/vmlinuz root=/dev/vda rw console=hvc0 net.ifnames=0 hz_ip={dom0Address}/24 hz_name={HostName},{kernel}/initrd.img'" +
            $"{drives} -netdev tap,id=n0,ifname={tap},script=no,downscript=no -device virtio-net-pci,netdev=n0,mac=52:54:00:{spec.Subnet & 0xff:x2}:ee:01", ct,
            cpu: XenCpu);
        var port = LabNetwork.SshForwarder(lab, HostName, hostNs, dom0Address);
        lab.State.Machines.Add(new LabMachine(HostName, hostNs, dom0Address, port, dom0Fingerprint, false, Dom0));
        foreach (var (domu, address, fingerprint) in domus)
        {
            var name = $"{HostName}-{domu}";
            var domuPort = LabNetwork.SshForwarder(lab, name, hostNs, address);
            lab.State.Machines.Add(new LabMachine(name, hostNs, address, domuPort, fingerprint, false, Names.Of(Platform.Xen), HostName));
        }

        lab.Save();
    }
}
