using System.Collections.Immutable;

namespace Horizon.Statistics;

/// <summary>A confidence interval around an estimate.</summary>
public readonly record struct ConfidenceInterval(double Level, double Lower, double Upper)
{
    public double HalfWidth => (Upper - Lower) / 2;

    public bool IsFinite => double.IsFinite(Lower) && double.IsFinite(Upper);

    public bool Contains(double value) => value >= Lower && value <= Upper;
}

/// <summary>
/// Immutable summary of a sample of round values, computed once in the constructor.
/// The raw values are kept in the order they were measured.
/// </summary>
public sealed class SampleStatistics
{
    public const double DefaultLevel = 0.95;

    public SampleStatistics(IEnumerable<double> values, double level = DefaultLevel)
    {
        Values = values.ToImmutableArray();
        if (Values.IsEmpty)
        {
            throw new ArgumentException("statistics need at least one value", nameof(values));
        }

        if (Values.Any(v => !double.IsFinite(v)))
        {
            throw new ArgumentException("values must be finite numbers", nameof(values));
        }

        var sorted = Values.Sort();
        N = Values.Length;
        Mean = Values.Average();
        Min = sorted[0];
        Max = sorted[^1];
        Median = Percentile(sorted, 0.5);
        Q1 = Percentile(sorted, 0.25);
        Q3 = Percentile(sorted, 0.75);
        var mean = Mean;
        Variance = N > 1 ? Values.Sum(v => (v - mean) * (v - mean)) / (N - 1) : double.NaN;
        StandardDeviation = Math.Sqrt(Variance);
        StandardError = StandardDeviation / Math.Sqrt(N);
        CoefficientOfVariation = Mean != 0 ? StandardDeviation / Math.Abs(Mean) : double.NaN;
        if (N > 1)
        {
            var t = StudentT.Critical(level, N - 1);
            Interval = new ConfidenceInterval(level, Mean - (t * StandardError), Mean + (t * StandardError));
        }
        else
        {
            Interval = new ConfidenceInterval(level, double.NegativeInfinity, double.PositiveInfinity);
        }
    }

    public ImmutableArray<double> Values { get; }

    public int N { get; }

    public double Mean { get; }

    public double Median { get; }

    public double Min { get; }

    public double Max { get; }

    public double Q1 { get; }

    public double Q3 { get; }

    public double Variance { get; }

    public double StandardDeviation { get; }

    public double StandardError { get; }

    public double CoefficientOfVariation { get; }

    public ConfidenceInterval Interval { get; }

    /// <summary>CI half-width relative to the mean; infinite with fewer than two values.</summary>
    public double RelativeHalfWidth => N > 1 && Mean != 0 ? Interval.HalfWidth / Math.Abs(Mean) : double.PositiveInfinity;

    /// <summary>Linear interpolation between closest ranks (type 7).</summary>
    public static double Percentile(ImmutableArray<double> sorted, double p)
    {
        if (sorted.Length == 1)
        {
            return sorted[0];
        }

        var h = (sorted.Length - 1) * p;
        var lo = (int)Math.Floor(h);
        var hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + ((h - lo) * (sorted[hi] - sorted[lo]));
    }
}
