using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Horizon.Timing;

/// <summary>The controller's clocks, injectable so a wall-clock step can be simulated without touching the machine's clock.</summary>
public interface IClockSource
{
    /// <summary>The monotonic timeline (Stopwatch.GetTimestamp, in nanoseconds).</summary>
    long MonotonicNs();

    /// <summary>CLOCK_REALTIME in nanoseconds since the epoch: the clock the kernel stamps datagrams on.</summary>
    long RealtimeNs();
}

public sealed partial class SystemClockSource : IClockSource
{
    public static SystemClockSource Instance { get; } = new();

    private static readonly double NsPerTick = 1e9 / Stopwatch.Frequency;

    public long MonotonicNs() => ToNs(Stopwatch.GetTimestamp());

    public static long ToNs(long stopwatchTicks) => Stopwatch.Frequency == 1_000_000_000 ? stopwatchTicks : (long)(stopwatchTicks * NsPerTick);

    public unsafe long RealtimeNs()
    {
        if (OperatingSystem.IsLinux())
        {
            Timespec ts;
            if (ClockGetTime(0, &ts) == 0)
            {
                return (ts.Seconds * 1_000_000_000L) + ts.Nanoseconds;
            }
        }

        return (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static unsafe partial int ClockGetTime(int clock, Timespec* ts);
}

[StructLayout(LayoutKind.Sequential)]
internal struct Timespec
{
    public long Seconds;
    public long Nanoseconds;
}

/// <summary>
/// Moves kernel receive stamps (CLOCK_REALTIME) onto the monotonic timeline. The REALTIME−MONOTONIC offset is read
/// at dequeue, so an NTP step or slew between a round's start and end cannot change its duration.
/// </summary>
public sealed class ArrivalClock(IClockSource clock)
{
    public IClockSource Source => clock;

    /// <summary>Reads the current offset, bracketing the realtime read by two monotonic reads.</summary>
    public long CurrentOffsetNs()
    {
        // The tightest of three brackets: an interrupt between the reads would otherwise skew the offset.
        var best = long.MaxValue;
        var offset = 0L;
        for (var i = 0; i < 3; i++)
        {
            var m1 = clock.MonotonicNs();
            var r = clock.RealtimeNs();
            var m2 = clock.MonotonicNs();
            if (m2 - m1 < best)
            {
                best = m2 - m1;
                offset = r - (m1 + ((m2 - m1) / 2));
            }
        }

        return offset;
    }

    public static long ToMonotonic(long kernelRealtimeNs, long offsetNs) => kernelRealtimeNs - offsetNs;
}
