using System.Diagnostics;
using System.Text;
using CsCheck;
using Horizon.Config;

namespace Horizon.Core.Tests;

/// <summary>The testbed and campaign loaders against hostile and careless input: bombs, huge sweeps, generated documents.</summary>
public sealed class LoaderBoundsTests
{
    private static readonly Testbed Lab = TestbedFile.Parse("lab.yaml", TestbedFile.DefaultYaml(2));

    private static string Values(string prefix, int n) => "[" + string.Join(", ", Enumerable.Range(0, n).Select(i => $"{prefix}{i}")) + "]";

    [Fact]
    public void An_alias_nest_used_as_a_mapping_key_is_refused_at_its_line_without_being_expanded()
    {
        // The 1 KB document of the report: nine levels of nine aliases, the last used as a key (a billion nodes).
        var text = new StringBuilder("campaign: bomb\na0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for (var i = 1; i <= 9; i++)
        {
            text.Append($"a{i}: &a{i} [{string.Join(", ", Enumerable.Repeat($"*a{i - 1}", 9))}]\n");
        }

        text.Append("k:\n  ? *a9\n  : 1\nexperiments:\n  - workload: superpi\n");
        var e = Assert.Throws<ConfigException>(() => CampaignFile.Parse("bomb.yaml", text.ToString(), Lab));
        Assert.Equal("bomb.yaml", e.File);
        Assert.Contains("aliases", e.Problem, StringComparison.Ordinal);
        Assert.StartsWith("a5", e.Field, StringComparison.Ordinal);
        Assert.Equal(7, e.Line);
        Assert.Throws<ConfigException>(() => TestbedFile.Parse("bomb.yaml", text.ToString().Replace("campaign: bomb", "testbed: bomb", StringComparison.Ordinal)));
    }

    [Fact]
    public void A_document_over_the_size_bound_is_refused_by_name_and_size()
    {
        var text = "campaign: big\n# " + new string('x', YamlBounds.MaxChars) + "\nexperiments:\n  - workload: superpi\n";
        var e = Assert.Throws<ConfigException>(() => CampaignFile.Parse("big.yaml", text, Lab));
        Assert.Contains(text.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_sweep_of_five_thousand_experiments_expands_in_order_and_a_larger_one_is_refused_with_the_limit()
    {
        var five = CampaignFile.Parse("c.yaml", $$"""
            campaign: sweep
            experiments:
              - workload: command
                run: "echo {a} {b}"
                sweep:
                  a: {{Values("a", 100)}}
                  b: {{Values("b", 50)}}
            """, Lab);
        Assert.Equal(5000, five.Experiments.Length);
        Assert.Equal("echo a0 b0", five.Experiments[0].Workload.Parameters["run"]);
        Assert.Equal("echo a99 b49", five.Experiments[^1].Workload.Parameters["run"]);
        Assert.Equal(5000, five.Experiments.Select(x => x.Key).Distinct().Count());

        // 10^6 combinations from three aliased lists of 100 (the first two make 10,000, the limit): refused before the third expands.
        var e = Assert.Throws<ConfigException>(() => CampaignFile.Parse("c.yaml", $$"""
            campaign: sweep
            values: &v {{Values("v", 100)}}
            experiments:
              - workload: command
                run: "echo {a} {b} {c}"
                sweep:
                  a: *v
                  b: *v
                  c: *v
            """, Lab));
        Assert.Equal("experiments[0].sweep.c", e.Field);
        Assert.Contains(CampaignFile.MaxExperiments.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Many_small_experiments_that_each_fit_are_still_refused_beyond_the_campaign_limit()
    {
        var experiments = string.Concat(Enumerable.Range(0, 4).Select(i => $"  - workload: command\n    run: \"echo {i} {{a}}\"\n    sweep:\n      a: {Values("a", 3000)}\n"));
        var e = Assert.Throws<ConfigException>(() => CampaignFile.Parse("c.yaml", $"campaign: many\nexperiments:\n{experiments}", Lab));
        Assert.Equal("experiments[3].workload", e.Field);
        Assert.Contains("more than 10000 experiments", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_quoted_placeholder_passes_any_value_to_the_shell_as_one_word()
    {
        var c = CampaignFile.Parse("c.yaml", """
            campaign: quoting
            experiments:
              - workload: command
                run: "printf '%s\\n' {v:q} {v}"
                sweep:
                  v: ["a b; touch /tmp/pwned", "it's", "$(id)"]
            """, Lab);
        Assert.Equal(
            ["printf '%s\\n' 'a b; touch /tmp/pwned' a b; touch /tmp/pwned", "printf '%s\\n' 'it'\\''s' it's", "printf '%s\\n' '$(id)' $(id)"],
            c.Experiments.Select(x => x.Workload.Parameters["run"]));
    }

    [Theory]
    [InlineData("../../x")]
    [InlineData("a b")]
    [InlineData("-rf")]
    [InlineData("ünï")]
    public void A_campaign_name_the_api_would_refuse_is_refused_in_the_file_too(string name)
    {
        var e = Assert.Throws<ConfigException>(() => CampaignFile.Parse("c.yaml", $"campaign: \"{name}\"\nexperiments:\n  - workload: superpi\n", Lab));
        Assert.Equal("campaign", e.Field);
        Assert.Equal(1, e.Line);
        var long5000 = new string('a', 5000);
        Assert.DoesNotContain(long5000, Assert.Throws<ConfigException>(() => CampaignFile.Parse("c.yaml", $"campaign: {long5000}\nexperiments:\n  - workload: superpi\n", Lab)).Message, StringComparison.Ordinal);
    }

    /// <summary>Pieces a careless or hostile author puts in a file: fields, aliases nested and reused (also as keys), sweeps, junk.</summary>
    private static readonly Gen<string> Documents =
        Gen.Select(Gen.Int[0, 6], Gen.Int[1, 12], Gen.Int[0, 3], Gen.Int[1, 40], Gen.Int[0, 3], Gen.String[Gen.Char["a-z:[]{}&*?-,'\"#\n !|>"], 0, 40], Gen.Bool)
            .Select((depth, width, keyUse, sweepWidth, sweepLists, junk, asTestbed) =>
            {
                var sb = new StringBuilder(asTestbed ? "testbed: fuzz\n" : "campaign: fuzz\n");
                sb.Append("n0: &n0 [x, y]\n");
                for (var i = 1; i <= depth; i++)
                {
                    sb.Append($"n{i}: &n{i} [{string.Join(", ", Enumerable.Repeat($"*n{i - 1}", width))}]\n");
                }

                if (keyUse == 1)
                {
                    sb.Append($"k:\n  ? *n{depth}\n  : v\n");
                }
                else if (keyUse == 2)
                {
                    sb.Append($"k: {{*n{depth}: v}}\n");
                }

                sb.Append("experiments:\n  - workload: command\n    run: \"echo {a} {b} {c}\"\n    sweep:\n");
                foreach (var p in new[] { "a", "b", "c" }.Take(sweepLists))
                {
                    sb.Append($"      {p}: {Values(p, sweepWidth)}\n");
                }

                if (keyUse == 3)
                {
                    sb.Append($"      d: *n{depth}\n");
                }

                sb.Append(junk);
                return sb.ToString();
            });

    [Fact]
    public void Generated_documents_load_or_fail_with_a_located_error_within_a_bounded_time()
    {
        var slowest = TimeSpan.Zero;
        var slowestInput = "";
        Documents.Sample(text =>
        {
            var clock = Stopwatch.StartNew();
            try
            {
                if (text.StartsWith("testbed", StringComparison.Ordinal))
                {
                    TestbedFile.Parse("fuzz.yaml", text);
                }
                else
                {
                    CampaignFile.Parse("fuzz.yaml", text, Lab);
                }
            }
            catch (ConfigException e)
            {
                Assert.Equal("fuzz.yaml", e.File);
                Assert.False(string.IsNullOrEmpty(e.Field), e.Message);
            }

            if (clock.Elapsed > slowest)
            {
                slowest = clock.Elapsed;
                slowestInput = text;
            }
        }, iter: 2000, threads: 1);

        // The bombs of the report took 25-42 s; a bounded loader answers any of these in milliseconds (1 s is generous on a busy CI).
        TestContext.Current.TestOutputHelper?.WriteLine($"slowest input: {slowest.TotalMilliseconds:0.0} ms");
        Assert.True(slowest < TimeSpan.FromSeconds(1), $"{slowest.TotalMilliseconds:0} ms for:\n{slowestInput[..Math.Min(2000, slowestInput.Length)]}");
    }
}
