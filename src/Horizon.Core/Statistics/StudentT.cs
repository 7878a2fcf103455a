namespace Horizon.Statistics;

/// <summary>Student's t distribution: CDF through the regularized incomplete beta function, quantile by bisection.</summary>
public static class StudentT
{
    public static double Cdf(double t, double degreesOfFreedom)
    {
        if (degreesOfFreedom <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(degreesOfFreedom), "degrees of freedom must be positive");
        }

        if (double.IsPositiveInfinity(t))
        {
            return 1;
        }

        if (double.IsNegativeInfinity(t))
        {
            return 0;
        }

        var x = degreesOfFreedom / (degreesOfFreedom + (t * t));
        var tail = 0.5 * SpecialFunctions.RegularizedIncompleteBeta(degreesOfFreedom / 2, 0.5, x);
        return t >= 0 ? 1 - tail : tail;
    }

    /// <summary>The value q with P(T ≤ q) = p.</summary>
    public static double Quantile(double p, double degreesOfFreedom)
    {
        if (p is <= 0 or >= 1 || double.IsNaN(p))
        {
            throw new ArgumentOutOfRangeException(nameof(p), "p must lie strictly between 0 and 1");
        }

        if (p < 0.5)
        {
            return -Quantile(1 - p, degreesOfFreedom);
        }

        double lo = 0, hi = 1;
        while (Cdf(hi, degreesOfFreedom) < p)
        {
            hi *= 2;
            if (hi > 1e12)
            {
                return double.PositiveInfinity;
            }
        }

        for (var i = 0; i < 200 && hi - lo > 1e-12 * Math.Max(1, hi); i++)
        {
            var mid = (lo + hi) / 2;
            if (Cdf(mid, degreesOfFreedom) < p)
            {
                lo = mid;
            }
            else
            {
                hi = mid;
            }
        }

        return (lo + hi) / 2;
    }

    /// <summary>Two-sided critical value for a confidence level, e.g. 0.95.</summary>
    public static double Critical(double level, double degreesOfFreedom) => Quantile(1 - ((1 - level) / 2), degreesOfFreedom);
}

internal static class SpecialFunctions
{
    private static readonly double[] Lanczos =
    [
        0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
        -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
        1.5056327351493116e-7,
    ];

    public static double LogGamma(double x)
    {
        if (x < 0.5)
        {
            return Math.Log(Math.PI / Math.Abs(Math.Sin(Math.PI * x))) - LogGamma(1 - x);
        }

        x -= 1;
        var a = Lanczos[0];
        var t = x + 7.5;
        for (var i = 1; i < Lanczos.Length; i++)
        {
            a += Lanczos[i] / (x + i);
        }

        return (0.5 * Math.Log(2 * Math.PI)) + ((x + 0.5) * Math.Log(t)) - t + Math.Log(a);
    }

    public static double RegularizedIncompleteBeta(double a, double b, double x)
    {
        if (x <= 0)
        {
            return 0;
        }

        if (x >= 1)
        {
            return 1;
        }

        var front = Math.Exp(LogGamma(a + b) - LogGamma(a) - LogGamma(b) + (a * Math.Log(x)) + (b * Math.Log(1 - x)));
        return x < (a + 1) / (a + b + 2)
            ? front * BetaContinuedFraction(a, b, x) / a
            : 1 - (front * BetaContinuedFraction(b, a, 1 - x) / b);
    }

    // Modified Lentz evaluation of the continued fraction for I_x(a, b).
    private static double BetaContinuedFraction(double a, double b, double x)
    {
        const double tiny = 1e-300;
        var c = 1.0;
        var d = 1 - ((a + b) * x / (a + 1));
        d = Math.Abs(d) < tiny ? tiny : d;
        d = 1 / d;
        var result = d;
        for (var m = 1; m <= 10_000; m++)
        {
            var m2 = 2 * m;
            var numerator = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
            d = 1 + (numerator * d);
            d = Math.Abs(d) < tiny ? tiny : d;
            c = 1 + (numerator / c);
            c = Math.Abs(c) < tiny ? tiny : c;
            d = 1 / d;
            result *= d * c;

            numerator = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
            d = 1 + (numerator * d);
            d = Math.Abs(d) < tiny ? tiny : d;
            c = 1 + (numerator / c);
            c = Math.Abs(c) < tiny ? tiny : c;
            d = 1 / d;
            var delta = d * c;
            result *= delta;
            if (Math.Abs(delta - 1) < 1e-15)
            {
                break;
            }
        }

        return result;
    }
}
