namespace Horizon.Statistics;

/// <summary>Which test decided whether two sets of rounds differ.</summary>
public enum ComparisonTest
{
    /// <summary>Welch's t-test: means, unequal variances; for rounds the analysers find unimodal and free of outliers.</summary>
    Welch,

    /// <summary>Mann–Whitney U (normal approximation, tie-corrected): ranks; when either side is bimodal or has outliers.</summary>
    MannWhitney,
}

/// <summary>The outcome of comparing rounds B with rounds A (B/A: above 1 means B's values are larger).</summary>
public sealed record TwoSampleComparison(
    double Ratio,
    ConfidenceInterval RatioInterval,
    bool RatioBounded,
    ComparisonTest Test,
    double PValue,
    double MinimumDetectableChange)
{
    public const double Alpha = 0.05;
    public const double Power = 0.8;

    public bool Significant => PValue < Alpha;

    /// <summary>
    /// Compares two samples: B/A with Fieller's 95 % interval; Welch's t-test, or Mann–Whitney U when
    /// <paramref name="nonNormal"/>; and the smallest relative change of the mean these rounds could detect (two-sided
    /// α = 0.05, power 0.8, Welch's standard error) — beside "no change", so a noisy run cannot pass for a clean one.
    /// </summary>
    public static TwoSampleComparison Of(SampleStatistics a, SampleStatistics b, bool nonNormal)
    {
        if (a.N < 2 || b.N < 2)
        {
            throw new ArgumentException("each side needs at least 2 measured rounds");
        }

        var ratio = RatioEstimate.Fieller(b, a);
        var va = a.Variance / a.N;
        var vb = b.Variance / b.N;
        var se = Math.Sqrt(va + vb);
        var df = se > 0 ? Math.Pow(va + vb, 2) / ((va * va / (a.N - 1)) + (vb * vb / (b.N - 1))) : a.N + b.N - 2;
        double p;
        if (nonNormal)
        {
            p = MannWhitney(a.Values, b.Values);
        }
        else if (se == 0)
        {
            p = a.Mean == b.Mean ? 1 : 0;
        }
        else
        {
            var t = (b.Mean - a.Mean) / se;
            p = 2 * StudentT.Cdf(-Math.Abs(t), df);
        }

        var mdc = se == 0 || a.Mean == 0 ? 0 : (StudentT.Quantile(1 - (Alpha / 2), df) + StudentT.Quantile(Power, df)) * se / Math.Abs(a.Mean);
        return new TwoSampleComparison(ratio.Value, ratio.Interval, ratio.Bounded, nonNormal ? ComparisonTest.MannWhitney : ComparisonTest.Welch, p, mdc);
    }

    /// <summary>Two-sided p-value of the Mann–Whitney U test, normal approximation with tie correction and continuity correction.</summary>
    public static double MannWhitney(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        var all = a.Select(v => (Value: v, FromA: true)).Concat(b.Select(v => (Value: v, FromA: false))).OrderBy(x => x.Value).ToArray();
        var n = all.Length;
        var ranks = new double[n];
        var tieTerm = 0.0;
        for (var i = 0; i < n;)
        {
            var j = i;
            while (j + 1 < n && all[j + 1].Value == all[i].Value)
            {
                j++;
            }

            var rank = (i + j + 2) / 2.0;
            for (var k = i; k <= j; k++)
            {
                ranks[k] = rank;
            }

            var t = j - i + 1;
            tieTerm += (t * t * t) - t;
            i = j + 1;
        }

        double n1 = a.Count, n2 = b.Count;
        var r1 = all.Select((x, i) => x.FromA ? ranks[i] : 0).Sum();
        var u = r1 - (n1 * (n1 + 1) / 2);
        var mean = n1 * n2 / 2;
        var variance = n1 * n2 / 12 * ((n + 1) - (tieTerm / (n * (n - 1.0))));
        if (variance <= 0)
        {
            return 1;
        }

        var z = (Math.Abs(u - mean) - 0.5) / Math.Sqrt(variance);
        return Math.Min(1, 2 * (1 - NormalCdf(Math.Max(0, z))));
    }

    /// <summary>Φ(x) through the complementary error function (Numerical Recipes' erfc Chebyshev fit, |error| &lt; 1.2e-7).</summary>
    public static double NormalCdf(double x)
    {
        var z = Math.Abs(x) / Math.Sqrt(2);
        var t = 1 / (1 + (0.5 * z));
        double[] c = [-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277];
        var poly = 0.0;
        for (var k = c.Length - 1; k >= 0; k--)
        {
            poly = (poly * t) + c[k];
        }

        var erfc = t * Math.Exp((-z * z) + poly);
        return x >= 0 ? 1 - (erfc / 2) : erfc / 2;
    }
}
