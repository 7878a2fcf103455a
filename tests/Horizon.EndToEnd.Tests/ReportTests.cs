using System.Diagnostics;
using System.Text.RegularExpressions;
using Horizon.Figures;
using SkiaSharp;

namespace Horizon.EndToEnd.Tests;

/// <summary>A report from a real run, opened in headless Chromium: every figure must load and the page must render.</summary>
[Collection("machine")]
public sealed partial class ReportTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("horizon-report-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [GeneratedRegex("data-images=\"(\\d+)/(\\d+)\"")]
    private static partial Regex ImagesLoaded();

    private static async Task<string> Chromium(string profile, CancellationToken ct, params string[] args)
    {
        var psi = new ProcessStartInfo("chromium") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", $"--user-data-dir={profile}", .. args])
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync(ct);
        _ = p.StandardError.ReadToEndAsync(ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromMinutes(2));
        try
        {
            await p.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw;
        }

        return await stdout;
    }

    [Trait("needs", "browser")]
    [Fact]
    public async Task The_html_report_of_a_real_two_guest_run_shows_every_figure_in_chromium()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var lab = await Lab.StartAsync();
        var testbed = Lab.LocalTestbed("""
              - name: native2
                host: localhost
                vcpus: 1
                workdir: /var/tmp/horizon-tests-2
            """);
        var (outcome, results) = await lab.RunAsync("""
            campaign: report
            rounds: 3
            round_timeout: 60s
            guest_counts: [1, 2]
            cpu_schemes: [default, shared-core]
            experiments:
              - workload: command
                run: "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"
            """, testbed);
        Assert.True(outcome.AllCompleted);

        var html = HtmlReport.Write("report", results, lab.Controller!.Store.RunOrder("report"), dir);
        var figures = Directory.GetFiles(Path.Combine(dir, "figures"), "*.svg");
        // One platform: no lone platform bars, but 1 figure comparing the schemes (a bar each), 1 scheme figure, 4
        // per-round figures, 2 per-guest figures (one per scheme, figs 6.14-6.28) and 2 allocation diagrams (figs 6.11-6.13).
        Assert.Equal(10, figures.Length);
        var bars = Assert.Single(figures, f => Path.GetFileName(f).StartsWith("bars-", StringComparison.Ordinal));
        var barsSvg = await File.ReadAllTextAsync(bars, ct);
        Assert.Contains("shared-core", barsSvg, StringComparison.Ordinal);
        Assert.Contains("default", barsSvg, StringComparison.Ordinal);
        Assert.Contains("CPU schemes compared (one guest, one platform)", await File.ReadAllTextAsync(html, ct), StringComparison.Ordinal);
        Assert.Equal(2, figures.Count(f => Path.GetFileName(f).StartsWith("allocation-", StringComparison.Ordinal)));
        Assert.Equal(2, figures.Count(f => Path.GetFileName(f).StartsWith("guests-", StringComparison.Ordinal)));

        // The diagrams come from the placement read back: shared-core puts both guests on one and the same CPU;
        // default pins nothing (every vCPU may run anywhere).
        var shared = AllocationFigures.Read(results.Single(e => e.Scheme == "shared-core" && e.Guests.Length == 2))!.Value;
        var sharedGuests = shared.Slots.Where(s => s.Guest >= 0).ToList();
        Assert.Equal(2, sharedGuests.Count);
        Assert.All(sharedGuests, s => Assert.Single(s.Cpus));
        Assert.Single(sharedGuests.Select(s => s.Cpus.Single()).Distinct());
        Assert.All(AllocationFigures.Read(results.Single(e => e.Scheme == "default" && e.Guests.Length == 2))!.Value.Slots.Where(s => s.Guest >= 0), s => Assert.True(s.Anywhere));
        Assert.All(figures, f => Assert.True(File.Exists(Path.ChangeExtension(f, ".png"))));
        Assert.Contains("fairness (Jain)", await File.ReadAllTextAsync(html, ct), StringComparison.Ordinal);

        var dom = await Chromium(Path.Combine(dir, "profile1"), ct, "--virtual-time-budget=10000", "--dump-dom", new Uri(html).AbsoluteUri);
        var m = ImagesLoaded().Match(dom);
        Assert.True(m.Success, "the report's load script did not run in Chromium");
        Assert.Equal(figures.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), m.Groups[2].Value);
        Assert.Equal(m.Groups[2].Value, m.Groups[1].Value);

        var shot = Path.Combine(dir, "shot.png");
        await Chromium(Path.Combine(dir, "profile2"), ct, "--window-size=1400,2400", $"--screenshot={shot}", new Uri(html).AbsoluteUri);
        using var bitmap = SKBitmap.Decode(shot);
        Assert.NotNull(bitmap);

        // The figures' coloured bars must be on the screenshot: count strongly coloured pixels.
        var coloured = 0;
        for (var y = 0; y < bitmap.Height; y += 2)
        {
            for (var x = 0; x < bitmap.Width; x += 2)
            {
                var c = bitmap.GetPixel(x, y);
                if (Math.Max(c.Red, Math.Max(c.Green, c.Blue)) - Math.Min(c.Red, Math.Min(c.Green, c.Blue)) > 80)
                {
                    coloured++;
                }
            }
        }

        Assert.True(coloured > 5000, $"only {coloured} coloured pixels on the screenshot: the figures did not render");
    }
}
