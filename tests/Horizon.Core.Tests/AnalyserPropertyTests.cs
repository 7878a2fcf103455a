using System.Collections.Immutable;
using Horizon.Analysers;
using Horizon.Statistics;

namespace Horizon.Core.Tests;

/// <summary>
/// The analysers on generated data: unimodal samples (normal at several CVs, a right-skewed lognormal) are almost never
/// flagged, and samples that really hold two groups or a round that moves the mean are. Seeded, so each run sees the
/// same samples; the bounds are the rates the rules were designed for (docs/timing.md, "Warnings").
/// </summary>
public sealed class AnalyserPropertyTests
{
    private const int Samples = 400;

    public static TheoryData<string, int> Unimodal()
    {
        var data = new TheoryData<string, int>();
        foreach (var shape in new[] { "normal-0.1%", "normal-1%", "normal-5%", "normal-20%", "lognormal-30%" })
        {
            foreach (var n in new[] { 6, 10, 30, 100 })
            {
                data.Add(shape, n);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Unimodal))]
    public void Unimodal_rounds_are_not_called_bimodal(string shape, int n)
    {
        var random = new Random(Seed(shape, n));
        var flagged = 0;
        for (var i = 0; i < Samples; i++)
        {
            if (Analyse(Draw(random, shape, n)).Any(c => c.Code == "bimodal"))
            {
                flagged++;
            }
        }

        // The critical value is the 99.5th percentile of normal samples: ~0.5 % expected, 2 % allowed (skew included).
        Assert.True(flagged <= Samples * 0.02, $"{shape}, n={n}: {flagged} of {Samples} unimodal samples called bimodal");
    }

    [Theory]
    [MemberData(nameof(Unimodal))]
    public void Unimodal_rounds_rarely_have_outliers(string shape, int n)
    {
        var random = new Random(Seed(shape, n) + 1);
        var flagged = 0;
        for (var i = 0; i < Samples; i++)
        {
            if (Analyse(Draw(random, shape, n)).Any(c => c.Code == "outliers"))
            {
                flagged++;
            }
        }

        // Tukey's inner fences alone flag 27-55 % of these samples; with the outer fences and the effect on the mean
        // the rate is a few percent at 6 rounds and below 2 % from 10 rounds on.
        var bound = n < 10 ? 0.07 : 0.03;
        Assert.True(flagged <= Samples * bound, $"{shape}, n={n}: {flagged} of {Samples} unimodal samples had 'outliers'");
    }

    [Theory]
    [InlineData(0.5, 0.001, 0)]
    [InlineData(0.5, 0.0002, 0)]
    [InlineData(2.0, 0.05, 4)]
    public void A_steady_sleep_or_cpu_loop_is_not_called_bimodal(double mean, double cv, int allowedOf200)
    {
        // The cases: a 0.5 s sleep at CV 0.1 % and a CPU loop at 5 % CV, 10 rounds, were called bimodal about half
        // the time. A sleep's groups can never be 5 % apart: never. The loop: at most 2 % of runs (0.5 % is the rule's level on normal rounds).
        var random = new Random(11);
        var flagged = 0;
        for (var i = 0; i < 200; i++)
        {
            var values = Enumerable.Range(0, 10).Select(_ => mean * (1 + (cv * Gaussian(random)))).ToArray();
            flagged += Analyse(values).Any(c => c.Code == "bimodal") ? 1 : 0;
        }

        Assert.True(flagged <= allowedOf200, $"{flagged} of 200 runs called bimodal");
    }

    [Theory]
    [InlineData(10, 1.0, 1.1, 0.01, 0.5, 0.8)]
    [InlineData(30, 1.0, 1.3, 0.02, 0.8, 0.9)]
    [InlineData(10, 1.0, 2.0, 0.05, 0.5, 0.95)]
    [InlineData(100, 8.0, 60.0, 0.05, 0.7, 0.99)]
    public void Two_real_groups_are_called_bimodal(int n, double low, double high, double cv, double lowShare, double minRate)
    {
        var random = new Random(n);
        var flagged = 0;
        for (var i = 0; i < Samples; i++)
        {
            var values = Enumerable.Range(0, n).Select(_ => (random.NextDouble() < lowShare ? low : high) * (1 + (cv * Gaussian(random)))).ToArray();
            var c = Analyse(values).FirstOrDefault(x => x.Code == "bimodal");
            if (c is not null)
            {
                flagged++;
            }
        }

        Assert.True(flagged >= Samples * minRate, $"{low}/{high} at CV {cv}, n={n}: only {flagged} of {Samples} flagged bimodal");
    }

    [Fact]
    public void Groups_closer_than_the_effect_threshold_are_not_reported()
    {
        // Two perfectly separated groups 1 % apart (e.g. 0.500 s and 0.505 s at CV 0.01 %): real, but the mean describes them.
        double[] values = [0.500, 0.50001, 0.49999, 0.500, 0.505, 0.50501, 0.50499, 0.505, 0.50002, 0.50498];
        Assert.DoesNotContain(Analyse(values), c => c.Code == "bimodal");
        Assert.True(BimodalAnalyser.FindSplit([.. values])!.Value.AshmanD > 10);
    }

    [Fact]
    public void An_outlier_that_moves_the_mean_is_named_by_its_round()
    {
        double[] values = [1.00, 1.01, 0.99, 1.00, 1.50, 1.01, 0.99, 1.00, 1.02, 0.98];
        var labels = ImmutableArray.Create("#2", "#3", "#4", "#5", "#6", "#7", "#8", "#9", "#10", "#11");
        var c = DefaultAnalysers.Analyse(new RoundSample(new SampleStatistics(values), 0, 5, labels)).Single(x => x.Code == "outliers");
        Assert.Contains("#6=1.5", c.Message, StringComparison.Ordinal);
        Assert.Contains("move the mean by 5", c.Message, StringComparison.Ordinal);

        // The same round 0.2 % off changes nothing: no warning.
        values[4] = 1.002;
        Assert.DoesNotContain(DefaultAnalysers.Analyse(new RoundSample(new SampleStatistics(values), 0, 5, labels)), x => x.Code == "outliers");
    }

    [Fact]
    public void The_critical_value_follows_the_sample_size()
    {
        // D of a split chosen from the data is large for few rounds and near 3 for many: one fixed threshold cannot serve both.
        Assert.True(BimodalAnalyser.CriticalD(6) > BimodalAnalyser.CriticalD(30));
        Assert.True(BimodalAnalyser.CriticalD(30) > BimodalAnalyser.CriticalD(200));
        Assert.InRange(BimodalAnalyser.CriticalD(200), 2.8, 4.0);
        Assert.Equal(BimodalAnalyser.CriticalD(500), BimodalAnalyser.CriticalD(200));
    }

    /// <summary>A seed that is the same in every process (string.GetHashCode and HashCode are randomized per process).</summary>
    private static int Seed(string shape, int n) => shape.Aggregate(n, (h, c) => (h * 31) + c);

    private static ImmutableArray<Conclusion> Analyse(double[] values) =>
        DefaultAnalysers.Analyse(new RoundSample(new SampleStatistics(values), 0, 5));

    private static double[] Draw(Random random, string shape, int n)
    {
        return [.. Enumerable.Range(0, n).Select(_ => shape switch
        {
            "normal-0.1%" => 0.5 * (1 + (0.001 * Gaussian(random))),
            "normal-1%" => 2 * (1 + (0.01 * Gaussian(random))),
            "normal-5%" => 2 * (1 + (0.05 * Gaussian(random))),
            "normal-20%" => 10 * (1 + (0.2 * Gaussian(random))),
            "lognormal-30%" => Math.Exp(0.3 * Gaussian(random)),
            _ => throw new ArgumentException(shape, nameof(shape)),
        })];
    }

    internal static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
