using System.Collections.Immutable;
using System.Globalization;

namespace Horizon.Results;

/// <summary>
/// The first line of a Linux <c>/proc/stat</c> ("cpu"): time all CPUs spent in each state since boot, in USER_HZ ticks
/// (1/100 s on Linux, whatever the kernel's HZ). Steal is time a virtual CPU was ready to run but the hypervisor ran
/// something else — the virtualization tax the guest can see.
/// </summary>
public sealed record CpuTimes(long User, long Nice, long System, long Idle, long Iowait, long Irq, long Softirq, long Steal)
{
    /// <summary>USER_HZ: the unit of /proc/stat on every Linux architecture.</summary>
    public const double TicksPerSecond = 100;

    public long Total => User + Nice + System + Idle + Iowait + Irq + Softirq + Steal;

    /// <summary>Parses "user,nice,system,idle,iowait,irq,softirq,steal" (older kernels without steal: 7 fields, steal 0).</summary>
    public static CpuTimes? TryParse(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        var parts = text.Split(',');
        var values = new long[8];
        for (var i = 0; i < 8; i++)
        {
            if (i >= parts.Length || parts[i].Length == 0)
            {
                if (i == 7 && parts.Length >= 7)
                {
                    break;
                }

                return null;
            }

            if (!long.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out values[i]))
            {
                return null;
            }
        }

        return new CpuTimes(values[0], values[1], values[2], values[3], values[4], values[5], values[6], values[7]);
    }

    /// <summary>Reads this machine's /proc/stat (null where there is none).</summary>
    public static CpuTimes? ReadLocal()
    {
        try
        {
            using var reader = new StreamReader("/proc/stat");
            var first = reader.ReadLine();
            if (first is null || !first.StartsWith("cpu ", StringComparison.Ordinal))
            {
                return null;
            }

            return TryParse(string.Join(',', first.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8)));
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// The change from <paramref name="before"/> to <paramref name="after"/> as round metrics named
    /// <c>{prefix}_user_pct</c>, <c>_system_pct</c> (incl. irq and softirq), <c>_iowait_pct</c>, <c>_steal_pct</c>, <c>_idle_pct</c>
    /// (shares of all the CPUs' time over the interval) and <c>{prefix}_s</c> (CPU-seconds that passed, all CPUs).
    /// Null when no tick passed (an interval shorter than 10 ms) or a counter went backwards (a reboot in between).
    /// </summary>
    public static ImmutableDictionary<string, double>? Delta(CpuTimes before, CpuTimes after, string prefix)
    {
        var d = new CpuTimes(
            after.User - before.User, after.Nice - before.Nice, after.System - before.System, after.Idle - before.Idle,
            after.Iowait - before.Iowait, after.Irq - before.Irq, after.Softirq - before.Softirq, after.Steal - before.Steal);
        // iowait may go backwards on some kernels (it is an estimate); everything else may not.
        if (d.User < 0 || d.Nice < 0 || d.System < 0 || d.Idle < 0 || d.Irq < 0 || d.Softirq < 0 || d.Steal < 0)
        {
            return null;
        }

        var iowait = Math.Max(0, d.Iowait);
        var total = d.User + d.Nice + d.System + d.Idle + iowait + d.Irq + d.Softirq + d.Steal;
        if (total <= 0)
        {
            return null;
        }

        double Pct(long ticks) => Math.Round(100.0 * ticks / total, 2);
        return ImmutableDictionary<string, double>.Empty
            .Add($"{prefix}_user_pct", Pct(d.User + d.Nice))
            .Add($"{prefix}_system_pct", Pct(d.System + d.Irq + d.Softirq))
            .Add($"{prefix}_iowait_pct", Pct(iowait))
            .Add($"{prefix}_steal_pct", Pct(d.Steal))
            .Add($"{prefix}_idle_pct", Pct(d.Idle))
            .Add($"{prefix}_s", total / TicksPerSecond);
    }
}
