using System.Collections.Immutable;
using Horizon.Statistics;

namespace Horizon.Analysers;

public enum ConclusionKind
{
    Hint,
    Warning,
    Error,
}

/// <summary>What an analyser says about one experiment's rounds.</summary>
public sealed record Conclusion(string Code, ConclusionKind Kind, string Message);

/// <summary>The input analysers look at: measured values in round order plus the count of failed rounds.</summary>
public sealed record RoundSample(SampleStatistics? Measured, int Failed, int MinRounds);

public interface IAnalyser
{
    IEnumerable<Conclusion> Analyse(RoundSample sample);
}

public static class DefaultAnalysers
{
    public static ImmutableArray<IAnalyser> All { get; } = [new TooFewRoundsAnalyser(), new FailedRoundsAnalyser(), new OutlierAnalyser(), new BimodalAnalyser()];

    public static ImmutableArray<Conclusion> Analyse(RoundSample sample) => [.. All.SelectMany(a => a.Analyse(sample))];
}

public sealed class TooFewRoundsAnalyser : IAnalyser
{
    public IEnumerable<Conclusion> Analyse(RoundSample sample)
    {
        var n = sample.Measured?.N ?? 0;
        if (n < 2)
        {
            yield return new Conclusion("too-few-rounds", ConclusionKind.Error, $"{n} measured round(s): no confidence interval");
        }
        else if (n < Math.Max(sample.MinRounds, 5))
        {
            yield return new Conclusion("too-few-rounds", ConclusionKind.Warning, $"only {n} measured rounds: the 95% CI is wide");
        }
    }
}

public sealed class FailedRoundsAnalyser : IAnalyser
{
    public IEnumerable<Conclusion> Analyse(RoundSample sample)
    {
        if (sample.Failed > 0)
        {
            yield return new Conclusion("failed-rounds", ConclusionKind.Warning, $"{sample.Failed} round(s) failed and are excluded from the statistics");
        }
    }
}

/// <summary>Tukey's fences (1.5 × IQR).</summary>
public sealed class OutlierAnalyser : IAnalyser
{
    public IEnumerable<Conclusion> Analyse(RoundSample sample)
    {
        var s = sample.Measured;
        if (s is null || s.N < 4)
        {
            yield break;
        }

        var iqr = s.Q3 - s.Q1;
        var lo = s.Q1 - (1.5 * iqr);
        var hi = s.Q3 + (1.5 * iqr);
        var outliers = s.Values.Select((v, i) => (v, i)).Where(x => x.v < lo || x.v > hi).ToList();
        if (outliers.Count > 0)
        {
            var list = string.Join(", ", outliers.Take(5).Select(x => $"#{x.i + 1}={x.v:G4}"));
            yield return new Conclusion("outliers", ConclusionKind.Warning, $"{outliers.Count} outlier round(s) outside [{lo:G4}, {hi:G4}]: {list}");
        }
    }
}

/// <summary>
/// Two well separated clusters of rounds (the study's figure 6.5, write buffers full or empty):
/// the best two-group split of the sorted values, with Ashman's D above 3 and each group holding at least 10%.
/// </summary>
public sealed class BimodalAnalyser : IAnalyser
{
    public IEnumerable<Conclusion> Analyse(RoundSample sample)
    {
        var s = sample.Measured;
        if (s is null || s.N < 6)
        {
            yield break;
        }

        var split = FindSplit(s.Values);
        if (split is { } x && x.AshmanD > 3)
        {
            yield return new Conclusion(
                "bimodal",
                ConclusionKind.Warning,
                $"rounds form two groups: {x.LowCount} around {x.LowMean:G4} and {x.HighCount} around {x.HighMean:G4} (Ashman's D = {x.AshmanD:F1}); the mean describes neither");
        }
    }

    public static BimodalSplit? FindSplit(ImmutableArray<double> values)
    {
        var sorted = values.Sort().ToArray();
        var n = sorted.Length;
        var minGroup = Math.Max(2, (int)Math.Ceiling(n * 0.1));
        BimodalSplit? best = null;
        var bestWithin = double.PositiveInfinity;
        for (var k = minGroup; k <= n - minGroup; k++)
        {
            var low = sorted.AsSpan(0, k);
            var high = sorted.AsSpan(k);
            var (m1, v1) = MeanVar(low);
            var (m2, v2) = MeanVar(high);
            var within = (v1 * low.Length) + (v2 * high.Length);
            if (within < bestWithin)
            {
                bestWithin = within;
                var pooled = Math.Sqrt(v1 + v2);
                var d = pooled > 0 ? Math.Sqrt(2) * Math.Abs(m2 - m1) / pooled : double.PositiveInfinity;
                best = new BimodalSplit(low.Length, m1, high.Length, m2, d);
            }
        }

        return best;
    }

    private static (double Mean, double Variance) MeanVar(ReadOnlySpan<double> xs)
    {
        double sum = 0;
        foreach (var x in xs)
        {
            sum += x;
        }

        var mean = sum / xs.Length;
        double ss = 0;
        foreach (var x in xs)
        {
            ss += (x - mean) * (x - mean);
        }

        return (mean, xs.Length > 1 ? ss / (xs.Length - 1) : 0);
    }
}

public readonly record struct BimodalSplit(int LowCount, double LowMean, int HighCount, double HighMean, double AshmanD);
