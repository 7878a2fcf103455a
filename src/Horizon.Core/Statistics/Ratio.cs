namespace Horizon.Statistics;

/// <summary>The ratio of two independent means (e.g. a platform over native) with a Fieller confidence interval.</summary>
public sealed record RatioEstimate(double Value, ConfidenceInterval Interval, bool Bounded)
{
    public static RatioEstimate Fieller(SampleStatistics numerator, SampleStatistics baseline, double level = SampleStatistics.DefaultLevel)
    {
        ArgumentNullException.ThrowIfNull(numerator);
        ArgumentNullException.ThrowIfNull(baseline);
        if (baseline.Mean == 0)
        {
            throw new ArgumentException("the baseline mean is zero: no ratio", nameof(baseline));
        }

        var ratio = numerator.Mean / baseline.Mean;
        if (numerator.N < 2 || baseline.N < 2)
        {
            return new RatioEstimate(ratio, new ConfidenceInterval(level, double.NegativeInfinity, double.PositiveInfinity), false);
        }

        var va = numerator.Variance / numerator.N;
        var vb = baseline.Variance / baseline.N;
        // Welch–Satterthwaite degrees of freedom for the two independent samples.
        var denominator = (va * va / (numerator.N - 1)) + (vb * vb / (baseline.N - 1));
        var df = denominator > 0 ? Math.Pow(va + vb, 2) / denominator : numerator.N + baseline.N - 2;
        var t = StudentT.Critical(level, df);
        var b = baseline.Mean;
        var g = t * t * vb / (b * b);
        if (g >= 1)
        {
            return new RatioEstimate(ratio, new ConfidenceInterval(level, double.NegativeInfinity, double.PositiveInfinity), false);
        }

        var spread = t / Math.Abs(b) * Math.Sqrt((va * (1 - g)) + (ratio * ratio * vb));
        var lower = (ratio - spread) / (1 - g);
        var upper = (ratio + spread) / (1 - g);
        return new RatioEstimate(ratio, new ConfidenceInterval(level, lower, upper), true);
    }
}

public static class Fairness
{
    /// <summary>Jain's fairness index: 1 when all shares are equal, 1/n when one takes everything.</summary>
    public static double Jain(IReadOnlyCollection<double> shares)
    {
        if (shares.Count == 0)
        {
            throw new ArgumentException("fairness needs at least one share", nameof(shares));
        }

        var sum = shares.Sum();
        var squares = shares.Sum(x => x * x);
        return squares == 0 ? 1 : sum * sum / (shares.Count * squares);
    }
}
