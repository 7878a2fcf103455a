namespace Horizon.Core.Tests;

public sealed class MetricTimeoutTests
{
    [Theory]
    [InlineData("x=^(a+)+$")]
    [InlineData("x=^(a|aa)+$")]
    [InlineData("x=^(\\w+\\s?)*$")]
    public void A_metric_pattern_that_backtracks_without_end_fails_the_metric_with_the_reason(string metrics)
    {
        var spec = Horizon.Workloads.WorkloadCatalog.Create("command", new Dictionary<string, string> { ["run"] = "true", ["metrics"] = metrics });
        var workload = Horizon.Workloads.WorkloadCatalog.Find("command")!;
        var e = Assert.Throws<FormatException>(() => workload.ParseOutput(spec, new string('a', 36) + "!\n"));
        Assert.Contains("gave up", e.Message, StringComparison.Ordinal);
        Assert.Contains("metric 'x'", e.Message, StringComparison.Ordinal);
    }
}
