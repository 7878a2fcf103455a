using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Horizon.Config;
using Horizon.Scripts;

namespace Horizon.Scheduler.Platforms;

/// <summary>A host as an adapter sees it: where its commands run and what CPUs it has.</summary>
public sealed record HostContext(TestHost Host, IGuestTransport Transport, HostTopology Topology)
{
    /// <summary>Runs a platform command on the host; a non-zero exit becomes an error that quotes the tool.</summary>
    public async Task<string> Must(string command, CancellationToken ct)
    {
        var r = await Transport.RunAsync(command, TimeSpan.FromSeconds(60), null, ct);
        if (r.ExitCode != 0)
        {
            throw new TestbedException($"on host '{Host.Name}': `{command}` failed ({(r.TimedOut ? "timed out" : $"exit {r.ExitCode}")}): {r.ErrorTail}");
        }

        return r.Stdout;
    }
}

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

/// <summary>LXC: the container's cpuset cgroup (`lxc-cgroup … cpuset.cpus`).</summary>
public sealed class LxcAdapter : PlatformAdapter
{
    public override Platform Platform => Platform.Lxc;

    public override bool PerGuest => true;

    private static string Base(GuestSpec g) => $"lxc-cgroup {(g.LxcPath is { } p ? $"-P {Q(p)} " : "")}-n {Q(g.InstanceName)} cpuset.cpus";

    public override Task ApplyAsync(HostContext host, GuestSpec guest, IReadOnlyList<string>? vcpus, CancellationToken ct) =>
        host.Must($"{Base(guest)} {Union(vcpus, host.Topology)}", ct);

    public override async Task<IReadOnlyList<string>> ReadBackAsync(HostContext host, GuestSpec guest, CancellationToken ct)
    {
        var cmd = Base(guest);
        var list = Field(await host.Must(cmd, ct), "cpu list", cmd);
        return [.. Enumerable.Repeat(list, guest.Vcpus)];
    }
}

/// <summary>QEMU: vCPU thread ids from QMP (`query-cpus-fast`), pinned with `taskset -pc`.</summary>
public sealed partial class QemuAdapter : PlatformAdapter
{
    public override Platform Platform => Platform.Qemu;

    private static string Socket(GuestSpec g) => g.Qmp ?? throw new TestbedException($"qemu guest '{g.Name}' needs 'qmp' (the QMP socket path on its host) in the testbed");

    public static string QueryCommand(string socket) =>
        $"printf '%s\\n' '{{\"execute\":\"qmp_capabilities\"}}' '{{\"execute\":\"query-cpus-fast\"}}' | socat -t2 - UNIX-CONNECT:{Q(socket)}";

    /// <summary>Thread ids in vCPU order from QMP's replies (the greeting, the capabilities ack, then the cpu list).</summary>
    public static IReadOnlyList<int> ParseThreads(string qmpOutput)
    {
        foreach (var line in qmpOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.TryGetProperty("error", out var error))
            {
                throw new TestbedException($"QMP error: {error.GetProperty("desc").GetString()}");
            }

            if (doc.RootElement.TryGetProperty("return", out var ret) && ret.ValueKind == JsonValueKind.Array)
            {
                return [.. ret.EnumerateArray().OrderBy(c => c.GetProperty("cpu-index").GetInt32()).Select(c => c.GetProperty("thread-id").GetInt32())];
            }
        }

        throw new TestbedException("QMP did not answer query-cpus-fast");
    }

    private static async Task<IReadOnlyList<int>> Threads(HostContext host, GuestSpec guest, CancellationToken ct)
    {
        var threads = ParseThreads(await host.Must(QueryCommand(Socket(guest)), ct));
        return threads.Count == guest.Vcpus ? threads
            : throw new TestbedException($"qemu guest '{guest.Name}' has {threads.Count} vCPU thread(s), the testbed says vcpus: {guest.Vcpus}");
    }

    public override async Task ApplyAsync(HostContext host, GuestSpec guest, IReadOnlyList<string>? vcpus, CancellationToken ct)
    {
        var threads = await Threads(host, guest, ct);
        await host.Must(string.Join(" && ", threads.Select((t, i) => $"taskset -pc {vcpus?[i] ?? host.Topology.All} {t} >/dev/null")), ct);
    }

    [GeneratedRegex(@"affinity list:\s*(\S+)")]
    private static partial Regex AffinityList();

    public override async Task<IReadOnlyList<string>> ReadBackAsync(HostContext host, GuestSpec guest, CancellationToken ct)
    {
        var threads = await Threads(host, guest, ct);
        var lists = new List<string>();
        foreach (var t in threads)
        {
            var cmd = $"taskset -pc {t}";
            var m = AffinityList().Match(await host.Must(cmd, ct));
            lists.Add(m.Success ? m.Groups[1].Value : throw new TestbedException($"`{cmd}` printed no affinity list"));
        }

        return lists;
    }
}

/// <summary>Xen (xl toolstack): `xl vcpu-pin`, `xl vcpu-list`, and dom0 reduced with `xl vcpu-set Domain-0`, as in the study.</summary>
public sealed class XenAdapter : PlatformAdapter
{
    public const string Dom0 = "Domain-0";

    public override Platform Platform => Platform.Xen;

    public sealed record VcpuRow(string Domain, int Id, int Vcpu, int? Cpu, string State, string Hard, string Soft)
    {
        public bool Online => Cpu is not null;
    }

    /// <summary>Parses `xl vcpu-list` (the header, then Name ID VCPU CPU State Time(s) Hard / Soft).</summary>
    public static IReadOnlyList<VcpuRow> ParseVcpuList(string output)
    {
        var rows = new List<VcpuRow>();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("Name", StringComparison.Ordinal))
            {
                continue;
            }

            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var slash = Array.IndexOf(f, "/");
            if (f.Length < 8 || slash < 7 || !int.TryParse(f[1], CultureInfo.InvariantCulture, out var id) || !int.TryParse(f[2], CultureInfo.InvariantCulture, out var vcpu))
            {
                throw new FormatException($"unexpected `xl vcpu-list` line: '{line.Trim()}'");
            }

            int? cpu = int.TryParse(f[3], CultureInfo.InvariantCulture, out var c) ? c : null;
            rows.Add(new VcpuRow(f[0], id, vcpu, cpu, f[4], string.Join("", f[6..slash]), string.Join("", f[(slash + 1)..])));
        }

        return rows;
    }

    private static string Pin(string list, HostTopology t) => CpuList.Same(list, t.All) ? "all" : list;

    private static string Normal(string affinity, HostTopology t) => affinity == "all" ? t.All : affinity;

    public override async Task ApplyAsync(HostContext host, GuestSpec guest, IReadOnlyList<string>? vcpus, CancellationToken ct)
    {
        var dom = Q(guest.InstanceName);
        if (vcpus is null)
        {
            await host.Must($"xl vcpu-pin {dom} all all", ct);
            return;
        }

        for (var v = 0; v < vcpus.Count; v++)
        {
            await host.Must($"xl vcpu-pin {dom} {v} {Pin(vcpus[v], host.Topology)}", ct);
        }
    }

    public override async Task<IReadOnlyList<string>> ReadBackAsync(HostContext host, GuestSpec guest, CancellationToken ct)
    {
        var rows = ParseVcpuList(await host.Must($"xl vcpu-list {Q(guest.InstanceName)}", ct));
        return [.. rows.Where(r => r.Domain == guest.InstanceName).OrderBy(r => r.Vcpu).Select(r => Normal(r.Hard, host.Topology))];
    }

    public override async Task ApplyHostControlAsync(HostContext host, GuestSpec guest, CpuPlan plan, CancellationToken ct)
    {
        var rows = ParseVcpuList(await host.Must($"xl vcpu-list {Dom0}", ct)).Where(r => r.Domain == Dom0).ToList();
        if (plan.HostControl is null)
        {
            // default: every dom0 vCPU back online and free to move. xl makes them available; dom0's kernel (where xl
            // runs) must still bring them up itself.
            await host.Must($"xl vcpu-set {Dom0} {rows.Count}", ct);
            await host.Must("grep -qs control_d /proc/xen/capabilities && for f in /sys/devices/system/cpu/cpu[0-9]*/online; do [ \"$(cat \"$f\")\" = 1 ] || echo 1 > \"$f\"; done 2>/dev/null; true", ct);
            await host.Must($"xl vcpu-pin {Dom0} all all", ct);
            return;
        }

        var cpus = CpuList.Parse(plan.HostControl).ToList();
        var online = Math.Min(plan.HostControlVcpus, rows.Count);
        await host.Must($"xl vcpu-set {Dom0} {online}", ct);
        for (var v = 0; v < online; v++)
        {
            await host.Must($"xl vcpu-pin {Dom0} {v} {cpus[v % cpus.Count]}", ct);
        }
    }

    public override async Task<string?> ReadHostControlAsync(HostContext host, GuestSpec guest, CancellationToken ct)
    {
        var rows = ParseVcpuList(await host.Must($"xl vcpu-list {Dom0}", ct)).Where(r => r.Domain == Dom0 && r.Online).ToList();
        return rows.Count == 0 ? "" : CpuList.Format(rows.SelectMany(r => CpuList.Parse(Normal(r.Hard, host.Topology))));
    }

    /// <summary>Parses `xl info` ("key : value" lines) into the host's physical CPUs.</summary>
    public static HostTopology ParseInfo(string output)
    {
        var info = output.Split('\n').Select(l => l.Split(':', 2, StringSplitOptions.TrimEntries)).Where(p => p.Length == 2 && p[0].Length > 0)
            .GroupBy(p => p[0]).ToDictionary(g => g.Key, g => g.First()[1]);
        int Need(string key) => info.TryGetValue(key, out var v) && int.TryParse(v, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n : throw new FormatException($"`xl info` printed no usable {key}");
        int cpus = Need("nr_cpus"), cores = Need("cores_per_socket"), threads = Need("threads_per_core"), nodes = Need("nr_nodes");
        var perSocket = cores * threads;
        return new HostTopology([.. Enumerable.Range(0, cpus).Select(c => new LogicalCpu(c, c / threads, c / perSocket, nodes == 1 ? 0 : (c / perSocket) % nodes))]);
    }

    public override async Task<HostTopology?> DiscoverTopologyAsync(IGuestTransport host, CancellationToken ct)
    {
        var r = await host.RunAsync("xl info", TimeSpan.FromSeconds(60), null, ct);
        return r.ExitCode == 0 ? ParseInfo(r.Stdout) : throw new TestbedException($"`xl info` failed over {host.Description}: {r.ErrorTail}");
    }

    /// <summary>Parses `xl sched-credit [-d D]`: the pool line, the header, then Name ID Weight Cap per domain.</summary>
    public static IReadOnlyList<(string Domain, int Id, CpuShare Share)> ParseSchedCredit(string output)
    {
        var rows = new List<(string, int, CpuShare)>();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("Cpupool", StringComparison.Ordinal) || line.StartsWith("Name", StringComparison.Ordinal))
            {
                continue;
            }

            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length != 4 || !int.TryParse(f[1], CultureInfo.InvariantCulture, out var id) || !int.TryParse(f[2], CultureInfo.InvariantCulture, out var weight) || !int.TryParse(f[3], CultureInfo.InvariantCulture, out var cap))
            {
                throw new FormatException($"unexpected `xl sched-credit` line: '{line.Trim()}'");
            }

            rows.Add((f[0], id, new CpuShare(weight, cap)));
        }

        return rows;
    }

    /// <summary>The study's credit scheduler: weight and cap per domain (`xl sched-credit -d D -w W -c C`), read back.</summary>
    public override async Task<CpuShare?> ApplyShareAsync(HostContext host, GuestSpec guest, CpuShare? share, CancellationToken ct)
    {
        // Always set: an interleaved experiment with another share may have run on this domain just before.
        var want = share ?? CpuShare.Default;
        var dom = Q(guest.InstanceName);
        await host.Must($"xl sched-credit -d {dom} -w {want.Weight} -c {want.Cap}", ct);
        var got = ParseSchedCredit(await host.Must($"xl sched-credit -d {dom}", ct)).FirstOrDefault(r => r.Domain == guest.InstanceName).Share;
        return got == want ? got : throw new TestbedException(
            $"refusing to start: credit scheduler share of '{guest.Name}' should be weight {want.Weight} cap {want.Cap} but xl reports {(got is null ? "none" : $"weight {got.Weight} cap {got.Cap}")}");
    }
}

/// <summary>KVM through libvirt: `virsh vcpupin`, `virsh emulatorpin` (host control), read back with `virsh vcpuinfo`.</summary>
public sealed class KvmAdapter : PlatformAdapter
{
    public override Platform Platform => Platform.Kvm;

    /// <summary>Parses `virsh vcpuinfo`: blocks of "VCPU:", "CPU:", "State:", "CPU time:", "CPU Affinity: y-y-".</summary>
    public static IReadOnlyList<string> ParseVcpuInfo(string output)
    {
        var lists = new SortedDictionary<int, string>();
        int? vcpu = null;
        foreach (var raw in output.Split('\n'))
        {
            var parts = raw.Split(':', 2, StringSplitOptions.TrimEntries);
            if (parts.Length != 2)
            {
                continue;
            }

            if (parts[0] == "VCPU")
            {
                vcpu = int.Parse(parts[1], CultureInfo.InvariantCulture);
            }
            else if (parts[0] == "CPU Affinity" && vcpu is { } v)
            {
                lists[v] = CpuList.Format(parts[1].Select((ch, i) => (ch, i)).Where(x => x.ch == 'y').Select(x => x.i));
            }
        }

        return lists.Count > 0 ? [.. lists.Values] : throw new FormatException("`virsh vcpuinfo` listed no vCPU");
    }

    public override async Task ApplyAsync(HostContext host, GuestSpec guest, IReadOnlyList<string>? vcpus, CancellationToken ct)
    {
        for (var v = 0; v < guest.Vcpus; v++)
        {
            await host.Must($"virsh vcpupin {Q(guest.InstanceName)} {v} {vcpus?[v] ?? host.Topology.All} --live", ct);
        }
    }

    public override async Task<IReadOnlyList<string>> ReadBackAsync(HostContext host, GuestSpec guest, CancellationToken ct) =>
        ParseVcpuInfo(await host.Must($"virsh vcpuinfo {Q(guest.InstanceName)}", ct));

    public override Task ApplyHostControlAsync(HostContext host, GuestSpec guest, CpuPlan plan, CancellationToken ct) =>
        host.Must($"virsh emulatorpin {Q(guest.InstanceName)} {plan.HostControl ?? host.Topology.All} --live", ct);

    public override async Task<string?> ReadHostControlAsync(HostContext host, GuestSpec guest, CancellationToken ct)
    {
        // "emulator: CPU Affinity" / dashes / "       *: 0-3"
        var line = (await host.Must($"virsh emulatorpin {Q(guest.InstanceName)}", ct)).Split('\n').FirstOrDefault(l => l.TrimStart().StartsWith("*:", StringComparison.Ordinal));
        return line?.Split(':', 2)[1].Trim();
    }
}

/// <summary>VMware ESXi through govc: the VM's `sched.cpu.affinity` setting, read back from `govc vm.info -e -json`.</summary>
public sealed class EsxiAdapter : PlatformAdapter
{
    public override Platform Platform => Platform.VmwareEsxi;

    public override bool PerGuest => true;

    public override Task ApplyAsync(HostContext host, GuestSpec guest, IReadOnlyList<string>? vcpus, CancellationToken ct) =>
        host.Must($"govc vm.change -vm {Q(guest.InstanceName)} -e sched.cpu.affinity={(vcpus is null ? "all" : Union(vcpus, host.Topology))}", ct);

    /// <summary>Finds the sched.cpu.affinity value in govc's JSON (extraConfig key/value pairs, any casing).</summary>
    public static string? ParseAffinity(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return Find(doc.RootElement);

        static string? Find(JsonElement e)
        {
            switch (e.ValueKind)
            {
                case JsonValueKind.Object:
                    string? key = null, value = null;
                    foreach (var p in e.EnumerateObject())
                    {
                        if (p.Name.Equals("key", StringComparison.OrdinalIgnoreCase) && p.Value.ValueKind == JsonValueKind.String)
                        {
                            key = p.Value.GetString();
                        }
                        else if (p.Name.Equals("value", StringComparison.OrdinalIgnoreCase) && p.Value.ValueKind == JsonValueKind.String)
                        {
                            value = p.Value.GetString();
                        }
                    }

                    if (key == "sched.cpu.affinity")
                    {
                        return value;
                    }

                    foreach (var p in e.EnumerateObject())
                    {
                        if (Find(p.Value) is { } found)
                        {
                            return found;
                        }
                    }

                    return null;
                case JsonValueKind.Array:
                    foreach (var x in e.EnumerateArray())
                    {
                        if (Find(x) is { } found)
                        {
                            return found;
                        }
                    }

                    return null;
                default:
                    return null;
            }
        }
    }

    public override async Task<IReadOnlyList<string>> ReadBackAsync(HostContext host, GuestSpec guest, CancellationToken ct)
    {
        var value = ParseAffinity(await host.Must($"govc vm.info -e -json {Q(guest.InstanceName)}", ct));
        var list = value is null or "all" ? host.Topology.All : value;
        return [.. Enumerable.Repeat(list, guest.Vcpus)];
    }
}

/// <summary>OpenVZ: `vzctl set --cpumask/--cpus --save`, read back with `vzlist -H -o cpus` and the saved CPUMASK.</summary>
public sealed class OpenVzAdapter : PlatformAdapter
{
    public override Platform Platform => Platform.OpenVz;

    public override bool PerGuest => true;

    public override Task ApplyAsync(HostContext host, GuestSpec guest, IReadOnlyList<string>? vcpus, CancellationToken ct) =>
        host.Must($"vzctl set {Q(guest.InstanceName)} --cpus {guest.Vcpus} --cpumask {(vcpus is null ? "all" : Union(vcpus, host.Topology))} --save", ct);

    public override async Task<IReadOnlyList<string>> ReadBackAsync(HostContext host, GuestSpec guest, CancellationToken ct)
    {
        var id = guest.InstanceName;
        var cpus = (await host.Must($"vzlist -H -o cpus {Q(id)}", ct)).Trim();
        if (cpus != "-" && int.TryParse(cpus, CultureInfo.InvariantCulture, out var n) && n != guest.Vcpus)
        {
            throw new TestbedException($"container {id} shows {n} CPU(s), the testbed says vcpus: {guest.Vcpus}");
        }

        var mask = (await host.Must($"sed -n 's/^CPUMASK=\"\\{{0,1\\}}\\([^\"]*\\)\"\\{{0,1\\}}$/\\1/p' \"${{VZ_CONF_DIR:-/etc/vz/conf}}\"/{Q(id + ".conf")}", ct)).Trim();
        var list = mask is "" or "all" ? host.Topology.All : mask;
        return [.. Enumerable.Repeat(list, guest.Vcpus)];
    }
}

/// <summary>Docker or Podman: `update --cpuset-cpus`, read back with `inspect`.</summary>
public sealed class ContainerEngineAdapter(string engine) : PlatformAdapter
{
    public override Platform Platform => engine == "podman" ? Platform.Podman : Platform.Docker;

    public override bool PerGuest => true;

    public override Task ApplyAsync(HostContext host, GuestSpec guest, IReadOnlyList<string>? vcpus, CancellationToken ct) =>
        host.Must($"{engine} update --cpuset-cpus {Union(vcpus, host.Topology)} {Q(guest.InstanceName)}", ct);

    public override async Task<IReadOnlyList<string>> ReadBackAsync(HostContext host, GuestSpec guest, CancellationToken ct)
    {
        var value = (await host.Must($"{engine} inspect --format '{{{{.HostConfig.CpusetCpus}}}}' {Q(guest.InstanceName)}", ct)).Trim();
        var list = value.Length == 0 ? host.Topology.All : value;
        return [.. Enumerable.Repeat(list, guest.Vcpus)];
    }
}
