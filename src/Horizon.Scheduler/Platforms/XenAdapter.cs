using System.Globalization;
using Horizon.Config;

namespace Horizon.Scheduler.Platforms;

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
