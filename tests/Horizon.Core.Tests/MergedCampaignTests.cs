using System.Collections.Immutable;
using Horizon.Reports;
using Horizon.Results;

namespace Horizon.Core.Tests;

public sealed class MergedCampaignTests
{
    private static ExperimentResult Experiment(string campaign, string platform, long createdMs, params double[] seconds) => new(
        Guid.NewGuid(), campaign, $"superpi|{platform}", "superpi", ImmutableSortedDictionary<string, string>.Empty.Add("digits", "65536"),
        ["g"], [platform], "default", "Completed", null, null, "{}", 0, createdMs, null,
        [.. seconds.Select((s, i) => new RoundResult(0, "g", i, true, s, null, null, 0, null, createdMs + i))]);

    [Fact]
    public void A_native_baseline_from_another_campaign_gives_a_ratio_marked_not_interleaved_with_the_time_between()
    {
        // As the study ran them: native one day, the container after a reboot 3 hours later, each its own campaign.
        var native = Experiment("native-run", "native", 1_000_000, 1.00, 1.01, 0.99, 1.00, 1.02);
        var lxc = Experiment("lxc-run", "lxc", 1_000_000 + (3 * 3600_000), 1.10, 1.11, 1.09, 1.10, 1.12);
        var rows = ResultsTable.Build([native, lxc]);
        var row = rows.Single(r => r.Experiment.Platform == "lxc");
        Assert.Equal(1.10, row.RatioToBaseline!.Value, 2);
        Assert.Equal("g (native-run)", row.Baseline);
        var warning = Assert.Single(row.Conclusions, c => c.Code == "not-interleaved");
        Assert.Contains("campaign 'native-run', run 3 h earlier", warning.Message, StringComparison.Ordinal);
        Assert.EndsWith("not interleaved", ResultsTable.Ratio(row), StringComparison.Ordinal);

        // Within one campaign the same ratio carries no such warning.
        var same = ResultsTable.Build([native, lxc with { Campaign = "native-run" }]).Single(r => r.Experiment.Platform == "lxc");
        Assert.DoesNotContain(same.Conclusions, c => c.Code == "not-interleaved");
        Assert.DoesNotContain("not interleaved", ResultsTable.Ratio(same), StringComparison.Ordinal);
    }
}
