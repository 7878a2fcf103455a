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

/// <summary>
/// The input analysers look at: measured values in round order plus the count of failed rounds; <paramref name="Labels"/>
/// names each value as the exports do (its round index, with the guest when the experiment has several).
/// </summary>
public sealed record RoundSample(SampleStatistics? Measured, int Failed, int MinRounds, ImmutableArray<string> Labels = default)
{
    public string Label(int index) => !Labels.IsDefault && index < Labels.Length ? Labels[index] : $"#{index + 1}";
}

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

/// <summary>
/// Rounds far from the rest that change the result. A round is an outlier when it lies beyond Tukey's outer fences
/// (Q1 − 3·IQR, Q3 + 3·IQR) <i>and</i> the outliers matter next to the mean: leaving them out moves the mean by at least
/// 1 % of it and by at least the 95 % CI half-width of the other rounds. (Tukey's inner fences alone flag a third of
/// perfectly normal 10-round samples, and a 0.5 s sleep "outlier" 0.02 % off the median changes nothing.)
/// </summary>
public sealed class OutlierAnalyser : IAnalyser
{
    public const double Fence = 3.0;
    public const double MinMeanShift = 0.01;

    public IEnumerable<Conclusion> Analyse(RoundSample sample)
    {
        var s = sample.Measured;
        if (s is null || s.N < 4)
        {
            yield break;
        }

        var iqr = s.Q3 - s.Q1;
        var lo = s.Q1 - (Fence * iqr);
        var hi = s.Q3 + (Fence * iqr);
        var outliers = s.Values.Select((v, i) => (v, i)).Where(x => x.v < lo || x.v > hi).ToList();
        if (outliers.Count == 0)
        {
            yield break;
        }

        var rest = s.Values.Where(v => v >= lo && v <= hi).ToList();
        var restMean = rest.Average();
        var shift = Math.Abs(s.Mean - restMean);
        var restHalfWidth = rest.Count > 1 ? new SampleStatistics(rest).Interval.HalfWidth : 0;
        if (shift < MinMeanShift * Math.Abs(restMean) || shift < restHalfWidth)
        {
            yield break;
        }

        var list = string.Join(", ", outliers.Take(5).Select(x => $"{sample.Label(x.i)}={x.v:G4}"));
        yield return new Conclusion("outliers", ConclusionKind.Warning,
            $"{outliers.Count} outlier round(s) outside [{lo:G4}, {hi:G4}] move the mean by {100 * shift / Math.Abs(restMean):0.#} %: {list}");
    }
}

/// <summary>
/// Two well separated groups of rounds (the study's figure 6.5, write buffers full or empty), reported when they matter:
/// the best two-group split of the sorted values (on the linear or the log scale, whichever the rounds are more symmetric
/// on, so that a long right tail is not taken for a second group) has Ashman's D above what 99.5 % of normal samples of the same size reach (a
/// Monte Carlo critical value: D of a split chosen from the data is near 3 for plain normal samples), each group holds
/// at least 10 % of the rounds (and 2), and the groups' means differ by at least 5 % of the mean.
/// </summary>
public sealed class BimodalAnalyser : IAnalyser
{
    public const double MinSeparation = 0.05;
    private const int NullSamples = 4000;
    private const int LargestCalibrated = 200;
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, double> Critical = new();

    public IEnumerable<Conclusion> Analyse(RoundSample sample)
    {
        var s = sample.Measured;
        if (s is null || s.N < 6)
        {
            yield break;
        }

        // Round times are often right-skewed (a long tail of slow rounds): judge the groups on whichever scale, linear or
        // logarithmic, the rounds are more symmetric on, so that a tail is not taken for a second group.
        var values = s.Values;
        if (values.All(v => v > 0))
        {
            ImmutableArray<double> logs = [.. values.Select(Math.Log)];
            if (Math.Abs(Skewness(logs)) < Math.Abs(Skewness(values)))
            {
                values = logs;
            }
        }

        var split = FindSplit(values);
        if (split is not { } x || x.AshmanD <= CriticalD(s.N))
        {
            yield break;
        }

        var sorted = s.Values.Sort();
        var lowMean = sorted.Take(x.LowCount).Average();
        var highMean = sorted.Skip(x.LowCount).Average();
        if (highMean - lowMean < MinSeparation * Math.Abs(s.Mean))
        {
            yield break;
        }

        yield return new Conclusion(
            "bimodal",
            ConclusionKind.Warning,
            $"rounds form two groups: {x.LowCount} around {lowMean:G4} and {x.HighCount} around {highMean:G4} ({100 * (highMean - lowMean) / Math.Abs(s.Mean):0.#} % apart, Ashman's D = {x.AshmanD:F1}); the mean describes neither");
    }

    /// <summary>
    /// The D that 99.5 % of standard normal samples of size <paramref name="n"/> stay below (D does not depend on the
    /// normal's mean or spread). Seeded, so every run gives the same value; above 200 rounds the value for 200 is used
    /// (the null distribution narrows towards ~2.7 as n grows, so that is conservative).
    /// </summary>
    public static double CriticalD(int n) => Critical.GetOrAdd(Math.Min(n, LargestCalibrated), m =>
    {
        var random = new Random(m);
        var ds = new double[NullSamples];
        var values = new double[m];
        for (var i = 0; i < NullSamples; i++)
        {
            for (var j = 0; j < m; j++)
            {
                values[j] = Gaussian(random);
            }

            ds[i] = FindSplit([.. values])?.AshmanD ?? 0;
        }

        Array.Sort(ds);
        return ds[(int)Math.Ceiling(NullSamples * 0.995) - 1];
    });

    private static double Skewness(ImmutableArray<double> xs)
    {
        var mean = xs.Average();
        var m2 = xs.Sum(x => (x - mean) * (x - mean)) / xs.Length;
        var m3 = xs.Sum(x => (x - mean) * (x - mean) * (x - mean)) / xs.Length;
        return m2 > 0 ? m3 / Math.Pow(m2, 1.5) : 0;
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    /// <summary>The split of the sorted values into a low and a high group with the least within-group spread.</summary>
    public static BimodalSplit? FindSplit(ImmutableArray<double> values)
    {
        var sorted = values.Sort().ToArray();
        var n = sorted.Length;
        var minGroup = Math.Max(2, (int)Math.Ceiling(n * 0.1));
        if (n < 2 * minGroup)
        {
            return null;
        }

        // Prefix sums make every candidate split O(1).
        var sum = new double[n + 1];
        var sq = new double[n + 1];
        for (var i = 0; i < n; i++)
        {
            sum[i + 1] = sum[i] + sorted[i];
            sq[i + 1] = sq[i] + (sorted[i] * sorted[i]);
        }

        BimodalSplit? best = null;
        var bestWithin = double.PositiveInfinity;
        for (var k = minGroup; k <= n - minGroup; k++)
        {
            var (m1, v1) = MeanVar(sum[k], sq[k], k);
            var (m2, v2) = MeanVar(sum[n] - sum[k], sq[n] - sq[k], n - k);
            var within = (v1 * k) + (v2 * (n - k));
            if (within < bestWithin)
            {
                bestWithin = within;
                var pooled = Math.Sqrt(v1 + v2);
                var d = pooled > 0 ? Math.Sqrt(2) * Math.Abs(m2 - m1) / pooled : double.PositiveInfinity;
                best = new BimodalSplit(k, m1, n - k, m2, d);
            }
        }

        return best;
    }

    private static (double Mean, double Variance) MeanVar(double sum, double squares, int count)
    {
        var mean = sum / count;
        var variance = count > 1 ? Math.Max(0, (squares - (count * mean * mean)) / (count - 1)) : 0;
        return (mean, variance);
    }
}

public readonly record struct BimodalSplit(int LowCount, double LowMean, int HighCount, double HighMean, double AshmanD);
