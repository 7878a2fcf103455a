using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Horizon.Config;
using Horizon.Results;
using Horizon.Scheduler;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Horizon.Cli;

/// <summary>
/// What the harness costs around each round: campaigns of N rounds of <c>sleep D</c> on a guest (this machine, or a
/// testbed's guest over SSH), their wall time against the sum of their rounds, and the steady gap between rounds — next
/// to hyperfine running the same commands where it is installed. Bounded: fixed rounds, then it stops.
/// </summary>
public sealed class BenchOverheadCommand : AsyncCommand<BenchOverheadCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--durations <LIST>")]
        [Description("Round lengths in seconds: each is a campaign of `sleep D` rounds (default 0.05,0.5,5).")]
        public string Durations { get; init; } = "0.05,0.5,5";

        [CommandOption("--rounds <N>")]
        [Description("Rounds per campaign (default 10).")]
        public int Rounds { get; init; } = 10;

        [CommandOption("-t|--testbed <FILE>")]
        [Description("Testbed whose guests to measure as well (e.g. a lab's testbed.yaml); this machine is always measured.")]
        public string? Testbed { get; init; }

        [CommandOption("--guest <NAME>")]
        [Description("Guest(s) of --testbed to measure, comma-separated (default: every guest).")]
        public string? Guests { get; init; }

        [CommandOption("--no-hyperfine")]
        [Description("Do not run hyperfine beside the local campaigns even where it is installed.")]
        public bool NoHyperfine { get; init; }

        [CommandOption("--json <FILE>")]
        [Description("Also write the figures as JSON.")]
        public string? Json { get; init; }
    }

    public override ValidationResult Validate(CommandContext context, Settings settings) =>
        settings.Rounds is < 2 or > 1000 ? ValidationResult.Error("--rounds: 2 to 1000")
        : ParseDurations(settings.Durations) is null ? ValidationResult.Error("--durations: comma-separated seconds, each above 0 and at most 600")
        : ValidationResult.Success();

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var durations = ParseDurations(settings.Durations)!;
        var targets = new List<(Testbed Testbed, GuestSpec Guest)>();
        var local = TestbedFile.Default();
        targets.Add((local, local.Guests[0]));
        if (settings.Testbed is { } file)
        {
            Testbed testbed;
            try
            {
                testbed = TestbedFile.Load(file);
            }
            catch (ConfigException e)
            {
                Render.Error(e.Message);
                return 2;
            }

            var names = settings.Guests?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [.. testbed.Guests.Select(g => g.Name)];
            foreach (var name in names)
            {
                if (testbed.Guests.FirstOrDefault(g => g.Name == name) is not { } guest)
                {
                    Render.Error($"{file}: no guest '{name}'; known: {string.Join(", ", testbed.Guests.Select(g => g.Name))}");
                    return 2;
                }

                targets.Add((testbed, guest));
            }
        }

        // hyperfine runs where each guest runs its rounds: here for the local guest, over the guest's own transport otherwise.
        var hyperfine = Which("hyperfine") is not null;
        var rows = new List<Row>();
        var dir = Directory.CreateTempSubdirectory("horizon-bench-overhead-").FullName;
        try
        {
            foreach (var (testbed, guest) in targets)
            {
                foreach (var d in durations)
                {
                    AnsiConsole.MarkupLine($"[grey]{Markup.Escape(guest.Name)} ({Markup.Escape(Transports.For(guest).Description)}): {settings.Rounds} × sleep {d.ToString(CultureInfo.InvariantCulture)}[/]");
                    var row = await CampaignAsync(testbed, guest, d, settings.Rounds, Path.Combine(dir, $"{rows.Count}.db"), cancellationToken);
                    if (!settings.NoHyperfine && (guest.Transport.Kind != TransportKind.Local || hyperfine))
                    {
                        row = row with { Hyperfine = await HyperfineAsync(guest, d, settings.Rounds, cancellationToken) };
                    }

                    rows.Add(row);
                    Console.WriteLine(row.Line());
                }
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }

        var table = new Table().AddColumns("guest", "transport", "round", "rounds", "sum of rounds", "campaign wall", "wall / sum", "overhead / round", "hyperfine wall", "hyperfine mean");
        foreach (var r in rows)
        {
            table.AddRow(Markup.Escape(r.Guest), Markup.Escape(r.Transport), $"{r.Seconds:0.###} s", r.Rounds.ToString(CultureInfo.InvariantCulture), $"{r.SumOfRounds:0.000} s",
                $"{r.Wall:0.000} s", $"{r.Wall / r.SumOfRounds:0.00}", $"{r.OverheadPerRound * 1000:0.0} ms",
                r.Hyperfine is { } h ? $"{h.Wall:0.000} s" : "—", r.Hyperfine is { } h2 ? $"{h2.Mean:0.0000} s" : "—");
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("[grey]campaign wall = from starting the embedded controller to its results (prepare, every round, cleanup; the process's own start, ~0.2 s, is not in it); " +
            "overhead / round = the gap between one round's start probe and the next one's, less the round itself (the median over the campaign); " +
            "hyperfine = `hyperfine -N --warmup 1 --runs N` on the same command where the guest runs it (over SSH: one extra round trip in its wall time), its whole run's wall time and its mean; — where it is not installed[/]");
        if (settings.Json is { } json)
        {
            await File.WriteAllTextAsync(json, JsonSerializer.Serialize(rows, Indented), cancellationToken);
        }

        return 0;
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public sealed record HyperfineRun(double Wall, double Mean);

    public sealed record Row(string Guest, string Transport, double Seconds, int Rounds, double SumOfRounds, double Wall, double OverheadPerRound, HyperfineRun? Hyperfine = null)
    {
        public string Line() =>
            FormattableString.Invariant($"guest={Guest} round={Seconds}s rounds={Rounds} sum_of_rounds={SumOfRounds:0.000}s campaign_wall={Wall:0.000}s wall_over_sum={Wall / SumOfRounds:0.00} overhead_per_round={OverheadPerRound * 1000:0.0}ms") +
            (Hyperfine is { } h ? FormattableString.Invariant($" hyperfine_wall={h.Wall:0.000}s hyperfine_mean={h.Mean:0.0000}s") : "");
    }

    private static async Task<Row> CampaignAsync(Testbed testbed, GuestSpec guest, double seconds, int rounds, string database, CancellationToken ct)
    {
        var yaml = string.Create(CultureInfo.InvariantCulture, $"""
            campaign: bench-overhead
            rounds: {rounds}
            round_timeout: {Math.Max(60, seconds * 10)}s
            guests: [{guest.Name}]
            experiments:
              - workload: command
                run: sleep {seconds}
            """);
        var campaign = CampaignFile.Parse("(bench overhead)", yaml, testbed);
        var clock = Stopwatch.StartNew();
        await using (var controller = await EmbeddedController.StartAsync(database, new IPEndPoint(IPAddress.Parse(testbed.ProbeAddress), testbed.ProbePort), false, testbed.ProbeNetworkNamespace, ct))
        {
            var outcome = await new CampaignRunner(controller.Grains, controller.Timing, testbed).RunAsync(campaign, ct);
            var wall = clock.Elapsed.TotalSeconds;
            var e = controller.Store.Experiments(campaign.Name).Single();
            if (!outcome.AllCompleted)
            {
                throw new InvalidOperationException($"the benchmark campaign on {guest.Name} did not complete: {e.Note}");
            }

            var measured = e.Rounds.Where(r => r.Measured).OrderBy(r => r.Round).ToList();
            // Per pair of consecutive rounds: the time from one start probe to the next, less the first round itself.
            var gaps = measured.Zip(measured.Skip(1), (a, b) => b.Metrics![RoundResult.StartMetric] - a.Metrics![RoundResult.StartMetric] - a.Seconds!.Value).Order().ToList();
            var steady = gaps.Count > 0 ? gaps[gaps.Count / 2] : double.NaN;
            return new Row(guest.Name, Transports.For(guest).Description, seconds, rounds, measured.Sum(r => r.Seconds!.Value), wall, steady);
        }
    }

    /// <summary>hyperfine on the same command where the guest runs it (over its own transport); null where it is not installed.</summary>
    private static async Task<HyperfineRun?> HyperfineAsync(GuestSpec guest, double seconds, int rounds, CancellationToken ct)
    {
        await using var transport = Transports.For(guest);
        var command = FormattableString.Invariant($"sleep {seconds}");
        var script = FormattableString.Invariant(
            $"command -v hyperfine >/dev/null || {{ echo 'HZ no-hyperfine'; exit 0; }}\nf=$(mktemp)\nhyperfine -N --style none --warmup 1 --runs {rounds} --export-json \"$f\" '{command}' >/dev/null 2>&1 && cat \"$f\"\nrc=$?\nrm -f \"$f\"\nexit $rc");
        var clock = Stopwatch.StartNew();
        var result = await transport.RunAsync(script, TimeSpan.FromSeconds((seconds * (rounds + 1) * 2) + 60), null, ct);
        var wall = clock.Elapsed.TotalSeconds;
        if (result.Stdout.Contains("HZ no-hyperfine", StringComparison.Ordinal) || result.ExitCode != 0)
        {
            return null;
        }

        using var doc = JsonDocument.Parse(result.Stdout);
        return new HyperfineRun(wall, doc.RootElement.GetProperty("results")[0].GetProperty("mean").GetDouble());
    }

    private static double[]? ParseDurations(string text)
    {
        var list = new List<double>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) || !(d > 0) || d > 600)
            {
                return null;
            }

            list.Add(d);
        }

        return list.Count > 0 ? [.. list] : null;
    }

    private static string? Which(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(p => Path.Combine(p, tool)).FirstOrDefault(File.Exists);
}
