using System.Collections.Immutable;
using Horizon.Reports;
using Horizon.Results;

namespace Horizon.Core.Tests;

public sealed class ScalingTests
{
    private static RoundResult Round(int guest, int round, double seconds, double? start = null) =>
        new(guest, $"g{guest}", round, true, seconds, null, null, 0, null, round,
            start is { } s ? ImmutableDictionary<string, double>.Empty.Add(RoundResult.StartMetric, s) : null);

    private static ExperimentResult Experiment(string scheme, int guests, IEnumerable<RoundResult> rounds) => new(
        Guid.NewGuid(), "c", $"k-{scheme}-{guests}", "superpi", ImmutableSortedDictionary<string, string>.Empty.Add("digits", "1000"),
        [.. Enumerable.Range(0, guests).Select(g => $"g{g}")], [.. Enumerable.Repeat("lxc", guests)], scheme, "Completed", null, null, "{}", 0, 0, null, [.. rounds]);

    [Fact]
    public void Shared_core_guests_are_compared_with_one_guest_of_the_same_scheme_and_their_shares_with_each_other()
    {
        var one = Experiment("shared-core", 1, [Round(0, 0, 1.0), Round(0, 1, 1.1), Round(0, 2, 0.9)]);
        // Two guests that each take twice as long, equally: slowdown 2, fairness 1.
        var fair = Experiment("shared-core", 2, [Round(0, 0, 2.0, 10.000), Round(1, 0, 2.0, 10.004), Round(0, 1, 2.1, 12.0), Round(1, 1, 2.1, 12.1)]);
        // Two guests where one gets three times the other's time: Jain = (1 + 1/3)² / (2 (1 + 1/9)) = 0.8.
        var unfair = Experiment("default", 2, [Round(0, 0, 1.0), Round(1, 0, 3.0), Round(0, 1, 1.0), Round(1, 1, 3.0)]);
        var oneDefault = Experiment("default", 1, [Round(0, 0, 1.0), Round(0, 1, 1.0)]);

        var rows = ScalingTable.Build([one, fair, unfair, oneDefault], new Dictionary<Guid, IReadOnlyList<int>> { [fair.Id] = [0] });
        var f = rows.Single(r => r.Experiment.Id == fair.Id);
        Assert.Equal(1.0, f.Fairness!.Value, 9);
        Assert.Equal(2.05, f.Slowdown!.Value, 9);
        Assert.Equal(1 / 2.05, f.Efficiency!.Value, 9);
        // Only round 0 was released by the barrier (block starts at round 0): 4 ms apart.
        Assert.Equal(0.004, f.StartSkewSeconds!.Value, 6);
        Assert.Equal([2.05, 2.05], f.PerGuest.Select(p => Math.Round(p.Statistics!.Mean, 9)));

        var u = rows.Single(r => r.Experiment.Id == unfair.Id);
        Assert.Equal(0.8, u.Fairness!.Value, 9);
        Assert.Equal(2.0, u.Slowdown!.Value, 9);
        Assert.Null(u.StartSkewSeconds);

        var single = rows.Single(r => r.Experiment.Id == one.Id);
        Assert.Null(single.Fairness);
        Assert.Equal(1.0, single.Slowdown!.Value, 9);
        Assert.Contains("2.05×", ScalingTable.ToText(rows), StringComparison.Ordinal);
    }
}
