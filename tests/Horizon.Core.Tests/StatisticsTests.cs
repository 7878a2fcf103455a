using Horizon.Analysers;
using Horizon.Statistics;

namespace Horizon.Core.Tests;

public sealed class StatisticsTests
{
    [Theory]
    [InlineData(1, 12.7062)]
    [InlineData(2, 4.3027)]
    [InlineData(4, 2.7764)]
    [InlineData(9, 2.2622)]
    [InlineData(30, 2.0423)]
    [InlineData(1000, 1.9623)]
    public void Student_t_critical_values_match_the_published_table(int df, double expected) =>
        Assert.Equal(expected, StudentT.Critical(0.95, df), 3);

    [Fact]
    public void Cdf_and_quantile_are_inverse()
    {
        foreach (var df in new[] { 1.0, 3.5, 17, 250 })
        {
            foreach (var p in new[] { 0.01, 0.3, 0.5, 0.9, 0.999 })
            {
                Assert.Equal(p, StudentT.Cdf(StudentT.Quantile(p, df), df), 9);
            }
        }
    }

    [Fact]
    public void Empty_sample_throws() => Assert.Throws<ArgumentException>(() => new SampleStatistics([]));

    [Fact]
    public void Single_value_has_no_interval()
    {
        var s = new SampleStatistics([3.0]);
        Assert.Equal(1, s.N);
        Assert.Equal(3.0, s.Mean);
        Assert.Equal(3.0, s.Median);
        Assert.False(s.Interval.IsFinite);
        Assert.True(double.IsPositiveInfinity(s.RelativeHalfWidth));
    }

    [Fact]
    public void Constant_sample_has_zero_width_interval()
    {
        var s = new SampleStatistics([2.0, 2.0, 2.0, 2.0]);
        Assert.Equal(0, s.StandardDeviation);
        Assert.Equal(2.0, s.Interval.Lower);
        Assert.Equal(2.0, s.Interval.Upper);
        Assert.Equal(0, s.CoefficientOfVariation);
    }

    [Fact]
    public void Known_sample_gives_textbook_values()
    {
        // 10 values with mean 5.5 and sd 3.02765; t(0.975, 9) = 2.26216.
        var s = new SampleStatistics(Enumerable.Range(1, 10).Select(i => (double)i));
        Assert.Equal(5.5, s.Mean, 12);
        Assert.Equal(3.0276503540974917, s.StandardDeviation, 12);
        Assert.Equal(5.5 - (2.2621571628 * 3.0276503540974917 / Math.Sqrt(10)), s.Interval.Lower, 6);
        Assert.Equal(5.5, s.Median);
        Assert.Equal(1, s.Min);
        Assert.Equal(10, s.Max);
    }

    [Fact]
    public void Raw_values_keep_their_order()
    {
        double[] values = [5, 1, 4, 2];
        Assert.Equal(values, new SampleStatistics(values).Values);
    }

    [Fact]
    public void Fieller_interval_narrows_with_more_data()
    {
        var rng = new Random(7);
        double[] Sample(double mean, int n) => [.. Enumerable.Range(0, n).Select(_ => mean + ((rng.NextDouble() - 0.5) * mean * 0.1))];
        var small = RatioEstimate.Fieller(new SampleStatistics(Sample(12, 5)), new SampleStatistics(Sample(10, 5)));
        var large = RatioEstimate.Fieller(new SampleStatistics(Sample(12, 200)), new SampleStatistics(Sample(10, 200)));
        Assert.True(small.Bounded);
        Assert.True(small.Interval.Contains(small.Value));
        Assert.True(large.Interval.HalfWidth < small.Interval.HalfWidth);
        Assert.InRange(large.Value, 1.18, 1.22);
    }

    [Fact]
    public void Fieller_interval_covers_the_true_ratio_about_95_percent_of_the_time()
    {
        var rng = new Random(2009);
        double Normal(double mean, double sd) => mean + (sd * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        var covered = 0;
        const int trials = 2000;
        for (var i = 0; i < trials; i++)
        {
            var a = new SampleStatistics(Enumerable.Range(0, 10).Select(_ => Normal(15, 1.5)));
            var b = new SampleStatistics(Enumerable.Range(0, 10).Select(_ => Normal(10, 1)));
            covered += RatioEstimate.Fieller(a, b).Interval.Contains(1.5) ? 1 : 0;
        }

        Assert.InRange(covered / (double)trials, 0.92, 0.98);
    }

    [Fact]
    public void Fieller_is_unbounded_when_the_baseline_mean_is_not_clearly_nonzero()
    {
        var r = RatioEstimate.Fieller(new SampleStatistics([1.0, 1.1, 0.9]), new SampleStatistics([-1.0, 1.0, 0.1]));
        Assert.False(r.Bounded);
    }

    [Fact]
    public void Jain_index_is_one_for_equal_shares_and_one_over_n_for_a_monopoly()
    {
        Assert.Equal(1, Fairness.Jain([3.0, 3.0, 3.0, 3.0]), 12);
        Assert.Equal(0.25, Fairness.Jain([8.0, 0, 0, 0]), 12);
        Assert.Throws<ArgumentException>(() => Fairness.Jain([]));
    }

    [Fact]
    public void Fixed_policy_stops_exactly_at_its_count()
    {
        var policy = RoundPolicy.Fixed(3);
        Assert.False(policy.Decide(new SampleStatistics([1.0, 1.0]), 2).Stop);
        Assert.True(policy.Decide(new SampleStatistics([1.0, 1.0, 1.0]), 3).Stop);
    }

    [Fact]
    public void Adaptive_policy_stops_at_the_target_but_not_before_the_minimum()
    {
        var policy = RoundPolicy.Adaptive(5, 100, 0.02);
        var tight = new SampleStatistics([10.0, 10.01, 9.99, 10.0]);
        Assert.False(policy.Decide(tight, 4).Stop);
        var five = new SampleStatistics([10.0, 10.01, 9.99, 10.0, 10.0]);
        var decision = policy.Decide(five, 5);
        Assert.True(decision.Stop);
        Assert.Contains("CI half-width", decision.Reason);
        var noisy = new SampleStatistics([1.0, 20, 3, 15, 7]);
        Assert.False(policy.Decide(noisy, 5).Stop);
    }

    [Fact]
    public void Failed_rounds_have_a_budget()
    {
        Assert.True(RoundPolicy.Fixed(3).Decide(null, 6).Stop);
        Assert.False(RoundPolicy.Fixed(3).Decide(null, 5).Stop);
    }

    [Fact]
    public void Bimodal_rounds_like_figure_6_5_are_flagged()
    {
        double[] rounds = [8, 9, 8.5, 62, 9.2, 8.8, 65, 9.1, 60, 8.7, 9.0, 61];
        var conclusions = DefaultAnalysers.Analyse(new RoundSample(new SampleStatistics(rounds), 0, 5));
        Assert.Contains(conclusions, c => c.Code == "bimodal");
        var unimodal = DefaultAnalysers.Analyse(new RoundSample(new SampleStatistics([10, 10.2, 9.9, 10.1, 10.05, 9.95, 10.3, 9.8]), 0, 5));
        Assert.DoesNotContain(unimodal, c => c.Code == "bimodal");
    }

    [Fact]
    public void Outliers_too_few_rounds_and_failures_are_reported()
    {
        var c = DefaultAnalysers.Analyse(new RoundSample(new SampleStatistics([10, 10.1, 9.9, 10, 10.2, 30]), 2, 10));
        Assert.Contains(c, x => x.Code == "outliers" && x.Message.Contains("#6"));
        Assert.Contains(c, x => x.Code == "too-few-rounds");
        Assert.Contains(c, x => x.Code == "failed-rounds" && x.Message.StartsWith('2'));
        Assert.Contains(DefaultAnalysers.Analyse(new RoundSample(null, 3, 5)), x => x.Code == "too-few-rounds" && x.Kind == ConclusionKind.Error);
    }
}
