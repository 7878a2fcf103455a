namespace Horizon.Lab;

/// <summary>
/// Docker and Podman guests of the lab: the lab's own engine (a dockerd, or podman with its own storage, both under the
/// lab directory, in the lab host's network namespace), the lab's rootfs imported as an image (no registry), and one
/// container per guest with the host's network (it reaches the probe address as the host does), pinned to a core like
/// the LXC guests. Guests are reached with the exec transport (`docker exec` / `podman exec`): no sshd in them.
/// Debian's engines are named by path: another `docker` on PATH need not be Debian's.
/// </summary>
internal static class EngineBuilder
{
    public const string Image = "horizon-lab/bookworm";

    public static async Task StartAsync(LabSession lab, string kind, int host, int count, CancellationToken ct)
    {
        var spec = lab.Spec;
        var rootfs = spec.Rootfs ?? throw new LabException($"{kind} guests need the lab's root filesystem: scripts/build-rootfs.sh builds it (.cache/rootfs/bookworm)");
        if (!File.Exists(Path.Combine(rootfs, ".horizon-rootfs")))
        {
            throw new LabException($"no root filesystem at {rootfs}: run scripts/build-rootfs.sh");
        }

        var binary = kind == "docker" ? "/usr/bin/docker" : "/usr/bin/podman";
        if (!File.Exists(binary) || (kind == "podman" && !File.Exists("/usr/sbin/runc")) || (kind == "docker" && !File.Exists("/usr/sbin/dockerd")))
        {
            throw new LabException($"{kind} guests need Debian's {kind}: apt-get install {(kind == "docker" ? "docker.io" : "podman runc")}");
        }

        var hostNs = spec.Namespace($"host{host}");
        var dir = Path.Combine(lab.Directory, $"{kind}{host}");
        System.IO.Directory.CreateDirectory(dir);
        string engine;
        if (kind == "docker")
        {
            var socket = Path.Combine(dir, "docker.sock");
            engine = $"{binary} -H unix://{socket}";
            lab.Log($"dockerd for host{host} (vfs storage, no bridge, no iptables) in {dir}");
            // In the host's namespace (nsenter keeps /sys and the cgroup tree, unlike `ip netns exec`).
            var pid = Shell.Spawn($"nsenter --net=/run/netns/{hostNs} /usr/sbin/dockerd --data-root {dir}/data --exec-root {dir}/exec --pidfile {dir}/dockerd.pid " +
                $"-H unix://{socket} --storage-driver=vfs --iptables=false --ip-masq=false --bridge=none --log-level=warn");
            lab.State.Processes.Add(new LabProcess(pid, socket, $"host{host} dockerd"));
            lab.State.Engines.Add(new LabEngine(kind, engine, dir, []));
            lab.Save();
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (await Shell.Sh($"{engine} info > /dev/null 2>&1", ct) != 0)
            {
                if (DateTime.UtcNow > until)
                {
                    throw new LabException($"dockerd for host{host} did not answer on {socket} within 60 s");
                }

                await Task.Delay(250, ct);
            }
        }
        else
        {
            // crun fails on this cgroup v1 hybrid (setrlimit, "cgroups in hybrid mode not supported"): runc, cgroupfs, vfs
            // (no overlay mounts left behind), events to a file (no journald).
            // No default sysctls: net.ipv4.ping_group_range is refused in a network namespace the container joins by path.
            await File.WriteAllTextAsync(Path.Combine(dir, "containers.conf"), "[containers]\ndefault_sysctls = []\n", ct);
            engine = $"env CONTAINERS_CONF={dir}/containers.conf {binary} --root {dir}/root --runroot {dir}/run --storage-driver vfs --runtime /usr/sbin/runc --cgroup-manager cgroupfs --events-backend file";
            lab.State.Engines.Add(new LabEngine(kind, engine, dir, []));
            lab.Save();
        }

        lab.Log($"{kind} on host{host}: importing the lab rootfs as {Image}");
        await Shell.Must($"tar -C {rootfs} -c . | {engine} import - {Image} > /dev/null", ct);
        for (var k = 1; k <= count; k++)
        {
            var name = $"host{host}-{kind}{k}";
            lab.Log($"{name}, {kind} container on host{host}");
            lab.State.Engines[^1].Containers.Add(name);
            lab.Save();
            // Podman's `--network host` leaves the namespace out of the container's config, so `podman exec` (runc exec, run
            // by the caller) would put the round scripts in the *caller's* namespace: name the host's namespace instead.
            // Docker's exec goes through the shim that dockerd started in the host's namespace: `host` is right there.
            var network = kind == "podman" ? $"ns:/run/netns/{hostNs} --ulimit nofile=1024:1024 --ulimit nproc=4096:4096" : "host";
            await Shell.Must($"nsenter --net=/run/netns/{hostNs} {engine} run -d --name {name} --hostname {name} --network {network} --cpuset-cpus {Core(k)} " +
                $"-v /usr/src:/usr/src:ro {Image} sleep infinity > /dev/null", ct);
            lab.State.Machines.Add(new LabMachine(name, hostNs, spec.Address(9 + host), 0, "", false, kind, $"host{host}") { Engine = engine });
            lab.Save();
        }
    }

    /// <summary>Removes the containers (their mounts with them) or destroys the libvirt domains, through their engine.</summary>
    public static async Task DownAsync(LabEngine e, Action<string>? log, CancellationToken ct)
    {
        if (e.Containers.Count == 0)
        {
            return;
        }

        if (e.Kind == "libvirt")
        {
            // Destroyed through libvirtd while it runs: it removes the domains' cgroups and taps' bookkeeping itself.
            log?.Invoke($"destroying libvirt domains {string.Join(", ", e.Containers)}");
            foreach (var d in e.Containers)
            {
                await Shell.Sh($"timeout 60 {e.Command} destroy {d} > /dev/null 2>&1; timeout 30 {e.Command} undefine {d} > /dev/null 2>&1; true", ct);
            }

            return;
        }

        log?.Invoke($"removing {e.Kind} containers {string.Join(", ", e.Containers)}");
        await Shell.Sh($"timeout 60 {e.Command} rm -f {string.Join(' ', e.Containers)} > /dev/null 2>&1; true", ct);
    }

    /// <summary>Mounts under <paramref name="directory"/> (dockerd's namespace handle, a container's shm): unmounted, deepest first.</summary>
    public static Task UnmountUnderAsync(string directory, CancellationToken ct) =>
        Shell.Sh($"awk '{{print $2}}' /proc/mounts | grep -F '{directory.TrimEnd('/')}/' | sort -r | xargs -r -n1 umount -l 2>/dev/null; true", ct);

    /// <summary>The core a container is pinned to at start, as for LXC guests: core 0 stays with the host.</summary>
    private static int Core(int index) => Environment.ProcessorCount == 1 ? 0 : 1 + ((index - 1) % (Environment.ProcessorCount - 1));
}
