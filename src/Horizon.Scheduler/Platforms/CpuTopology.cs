using System.Globalization;
using Horizon.Config;

namespace Horizon.Scheduler.Platforms;

/// <summary>Linux CPU list syntax ("0-2,5"): parse, print, compare.</summary>
public static class CpuList
{
    public static SortedSet<int> Parse(string list)
    {
        var set = new SortedSet<int>();
        foreach (var part in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var range = part.Split('-', 2);
            if (!int.TryParse(range[0], NumberStyles.None, CultureInfo.InvariantCulture, out var a)
                || (range.Length == 2 && !int.TryParse(range[1], NumberStyles.None, CultureInfo.InvariantCulture, out _)))
            {
                throw new FormatException($"'{list}' is not a CPU list (e.g. 0-2,5)");
            }

            var b = range.Length == 2 ? int.Parse(range[1], CultureInfo.InvariantCulture) : a;
            for (var i = a; i <= b; i++)
            {
                set.Add(i);
            }
        }

        return set;
    }

    public static string Format(IEnumerable<int> cpus)
    {
        var sorted = cpus.Distinct().Order().ToList();
        var parts = new List<string>();
        for (var i = 0; i < sorted.Count;)
        {
            var j = i;
            while (j + 1 < sorted.Count && sorted[j + 1] == sorted[j] + 1)
            {
                j++;
            }

            parts.Add(j == i ? $"{sorted[i]}" : $"{sorted[i]}-{sorted[j]}");
            i = j + 1;
        }

        return string.Join(",", parts);
    }

    public static bool Same(string a, string b) => Parse(a).SetEquals(Parse(b));
}

/// <summary>One logical CPU of a host as `lscpu -p=CPU,CORE,SOCKET,NODE` lists it.</summary>
public sealed record LogicalCpu(int Cpu, int Core, int Socket, int Node);

/// <summary>A host's CPUs, discovered over its transport, so schemes pick whole cores on sensible sockets.</summary>
public sealed record HostTopology(IReadOnlyList<LogicalCpu> Cpus)
{
    public const string Command = "LC_ALL=C lscpu -p=CPU,CORE,SOCKET,NODE 2>/dev/null || nproc --all";

    public int Sockets => Cpus.Select(c => c.Socket).Distinct().Count();

    public int PhysicalCores => Cpus.Select(c => (c.Socket, c.Core)).Distinct().Count();

    public string All => CpuList.Format(Cpus.Select(c => c.Cpu));

    public string Describe() =>
        $"{Cpus.Count} logical CPU(s), {PhysicalCores} core(s), {Sockets} socket(s)";

    /// <summary>Parses `lscpu -p` output (comment lines start with #); a bare number is `nproc`'s fallback.</summary>
    public static HostTopology Parse(string output)
    {
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (lines.Length == 1 && int.TryParse(lines[0], CultureInfo.InvariantCulture, out var n) && n > 0)
        {
            return new HostTopology([.. Enumerable.Range(0, n).Select(i => new LogicalCpu(i, i, 0, 0))]);
        }

        var cpus = new List<LogicalCpu>();
        foreach (var line in lines.Where(l => !l.StartsWith('#')))
        {
            var f = line.Split(',');
            int At(int i) => i < f.Length && int.TryParse(f[i], CultureInfo.InvariantCulture, out var v) ? v : 0;
            if (f.Length < 1 || !int.TryParse(f[0], CultureInfo.InvariantCulture, out var cpu))
            {
                throw new FormatException($"unexpected lscpu -p line '{line}'");
            }

            cpus.Add(new LogicalCpu(cpu, At(1), At(2), At(3)));
        }

        return cpus.Count > 0 ? new HostTopology(cpus) : throw new FormatException("lscpu -p listed no CPU");
    }

    public static async Task<HostTopology> DiscoverAsync(IGuestTransport host, CancellationToken ct)
    {
        var r = await host.RunAsync(Command, TimeSpan.FromSeconds(30), null, ct);
        if (r.ExitCode != 0)
        {
            throw new TestbedException($"cannot read the CPU topology over {host.Description}: {r.ErrorTail}");
        }

        return Parse(r.Stdout);
    }
}

/// <summary>Where a scheme puts host control and each guest's vCPUs: one CPU list per vCPU.</summary>
public sealed record CpuPlan(CpuScheme Scheme, string? HostControl, int HostControlVcpus, IReadOnlyList<IReadOnlyList<string>?> GuestVcpus)
{
    /// <summary>All CPUs a guest may use (null: not pinned).</summary>
    public string? GuestCpus(int guest) => GuestVcpus[guest] is { } v ? CpuList.Format(v.SelectMany(CpuList.Parse)) : null;
}

public static class CpuPlanner
{
    /// <summary>
    /// default: nothing pinned. shared-core: every vCPU, host control included, on one core, host control reduced to
    /// one vCPU. exclusive: host control on its own cores (<paramref name="controlCpus"/>, the study's dom0 pinning), then
    /// one whole physical core per guest vCPU, filling a socket before the next; SMT siblings are never handed to two guests.
    /// </summary>
    public static CpuPlan Plan(CpuScheme scheme, IReadOnlyList<GuestSpec> guests, HostTopology topology, int controlCpus, string hostName)
    {
        switch (scheme)
        {
            case CpuScheme.Default:
                return new CpuPlan(scheme, null, 0, [.. guests.Select(_ => (IReadOnlyList<string>?)null)]);
            case CpuScheme.SharedCore:
            {
                var core = $"{topology.Cpus.Min(c => c.Cpu)}";
                return new CpuPlan(scheme, core, 1, [.. guests.Select(g => (IReadOnlyList<string>?)Enumerable.Repeat(core, g.Vcpus).ToList())]);
            }

            default:
            {
                // Whole physical cores in socket order; the first logical CPU of each core is the one used.
                var cores = topology.Cpus.GroupBy(c => (c.Socket, c.Core)).OrderBy(g => g.Key.Socket).ThenBy(g => g.Key.Core)
                    .Select(g => g.Min(c => c.Cpu)).ToList();
                var vcpus = guests.Sum(g => g.Vcpus);
                if (controlCpus + vcpus > cores.Count)
                {
                    throw new TestbedException(
                        $"the exclusive scheme needs {controlCpus + vcpus} physical cores on host '{hostName}' ({controlCpus} for host control + {vcpus} guest vCPU(s)) " +
                        $"but it has {topology.Describe()}; run fewer guests at once, lower their vcpus, set the host's control_cpus lower, or use shared-core/default");
                }

                var control = controlCpus > 0 ? CpuList.Format(cores.Take(controlCpus)) : null;
                var next = controlCpus;
                var plans = new List<IReadOnlyList<string>?>();
                foreach (var g in guests)
                {
                    plans.Add([.. cores.Skip(next).Take(g.Vcpus).Select(c => $"{c}")]);
                    next += g.Vcpus;
                }

                return new CpuPlan(scheme, control, controlCpus, plans);
            }
        }
    }
}
