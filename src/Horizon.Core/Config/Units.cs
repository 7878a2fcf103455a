using System.Globalization;

namespace Horizon.Config;

/// <summary>Sizes (2G, 64M, 1.5GiB, 1048576) and durations (120s, 2m, 500ms, 1h).</summary>
public static class Units
{
    public static bool TryParseSize(string text, out long bytes)
    {
        bytes = 0;
        var t = text.Trim();
        var i = 0;
        while (i < t.Length && (char.IsDigit(t[i]) || t[i] == '.'))
        {
            i++;
        }

        if (i == 0 || !double.TryParse(t[..i], NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
        {
            return false;
        }

        var multiplier = t[i..].Trim().ToUpperInvariant() switch
        {
            "" or "B" => 1L,
            "K" or "KB" or "KIB" => 1L << 10,
            "M" or "MB" or "MIB" => 1L << 20,
            "G" or "GB" or "GIB" => 1L << 30,
            "T" or "TB" or "TIB" => 1L << 40,
            _ => 0L,
        };
        if (multiplier == 0 || number < 0)
        {
            return false;
        }

        bytes = (long)Math.Round(number * multiplier);
        return true;
    }

    public static bool TryParseDuration(string text, out TimeSpan duration)
    {
        duration = default;
        var t = text.Trim();
        var i = 0;
        while (i < t.Length && (char.IsDigit(t[i]) || t[i] == '.'))
        {
            i++;
        }

        if (i == 0 || !double.TryParse(t[..i], NumberStyles.Float, CultureInfo.InvariantCulture, out var number) || number < 0)
        {
            return false;
        }

        double? seconds = t[i..].Trim() switch
        {
            "" or "s" => number,
            "ms" => number / 1000,
            "m" or "min" => number * 60,
            "h" => number * 3600,
            _ => null,
        };
        if (seconds is null)
        {
            return false;
        }

        duration = TimeSpan.FromSeconds(seconds.Value);
        return true;
    }

    public static string FormatSize(long bytes) => bytes switch
    {
        >= 1L << 30 when bytes % (1L << 30) == 0 => $"{bytes >> 30}G",
        >= 1L << 20 when bytes % (1L << 20) == 0 => $"{bytes >> 20}M",
        >= 1L << 10 when bytes % (1L << 10) == 0 => $"{bytes >> 10}K",
        _ => bytes.ToString(CultureInfo.InvariantCulture),
    };

    public static string FormatDuration(TimeSpan d) => d.TotalSeconds switch
    {
        >= 3600 when d.TotalSeconds % 3600 == 0 => $"{d.TotalHours:0}h",
        >= 60 when d.TotalSeconds % 60 == 0 => $"{d.TotalMinutes:0}m",
        >= 1 => $"{d.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)}s",
        _ => $"{d.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture)}ms",
    };
}
