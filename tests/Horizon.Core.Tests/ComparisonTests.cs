using Horizon.Reports;
using Horizon.Statistics;

namespace Horizon.Core.Tests;

public sealed class ComparisonTests
{
    [Fact]
    public void Welch_and_mann_whitney_give_the_textbook_p_values()
    {
        // R: t.test(1:5, 3:7)$p.value = 0.08052; wilcox.test(1:5, 6:10, exact = FALSE)$p.value = 0.01219.
        var welch = TwoSampleComparison.Of(new SampleStatistics([1, 2, 3, 4, 5]), new SampleStatistics([3, 4, 5, 6, 7]), nonNormal: false);
        Assert.Equal(ComparisonTest.Welch, welch.Test);
        Assert.Equal(0.08052, welch.PValue, 4);
        Assert.Equal(0.01219, TwoSampleComparison.MannWhitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]), 4);
        // Ties share their rank: identical samples are no evidence of a change.
        Assert.Equal(1, TwoSampleComparison.MannWhitney([1, 1, 2, 2], [1, 1, 2, 2]), 6);
        Assert.Equal(0.5, TwoSampleComparison.NormalCdf(0), 6);
        Assert.Equal(0.975, TwoSampleComparison.NormalCdf(1.959964), 5);
    }

    [Fact]
    public void A_noisy_pair_of_runs_is_inconclusive_not_unchanged()
    {
        // Four rounds at CV 40 %: no change is found, but none smaller than ~100 % could have been.
        var a = new SampleStatistics([0.6, 1.4, 0.9, 1.1]);
        var b = new SampleStatistics([1.3, 0.7, 1.0, 1.2]);
        var c = TwoSampleComparison.Of(a, b, nonNormal: false);
        Assert.False(c.Significant);
        Assert.True(c.MinimumDetectableChange > 0.3, $"{c.MinimumDetectableChange}");
        Assert.Equal(Verdict.Inconclusive, ComparisonReport.Decide(c, 0.05, higherIsBetter: false));

        // The same means from steady rounds: the rounds could have seen 5 %, so it is "no change".
        var steadyA = new SampleStatistics([1.000, 1.001, 0.999, 1.000, 1.002, 0.998, 1.000, 1.001]);
        var steadyB = new SampleStatistics([1.001, 0.999, 1.000, 1.002, 0.998, 1.000, 1.001, 1.000]);
        var steady = TwoSampleComparison.Of(steadyA, steadyB, nonNormal: false);
        Assert.Equal(Verdict.NoChange, ComparisonReport.Decide(steady, 0.05, higherIsBetter: false));
    }

    [Fact]
    public void Throughput_that_drops_is_the_regression_and_the_verdict_respects_the_threshold()
    {
        var before = new SampleStatistics([100, 101, 99, 100, 102, 98]);
        var after = new SampleStatistics([90, 91, 89, 90, 92, 88]);
        var c = TwoSampleComparison.Of(before, after, nonNormal: false);
        Assert.True(c.Significant);
        Assert.Equal(0.9, c.Ratio, 3);
        Assert.Equal(Verdict.Regression, ComparisonReport.Decide(c, 0.05, higherIsBetter: true));
        Assert.Equal(Verdict.Improvement, ComparisonReport.Decide(c, 0.05, higherIsBetter: false));
        Assert.Equal(Verdict.BelowThreshold, ComparisonReport.Decide(c, 0.2, higherIsBetter: true));
    }
}
