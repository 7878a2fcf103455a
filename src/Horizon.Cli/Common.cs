using System.Collections.Immutable;
using System.ComponentModel;
using System.Diagnostics.CodeAnalysis;
using Horizon.Config;
using Horizon.Grains;
using Horizon.Reports;
using Horizon.Results;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Horizon.Cli;

public class DataSettings : CommandSettings
{
    [CommandOption("--data <DIR>")]
    [Description("Directory of the results store (default: $HORIZON_DATA or ./.horizon).")]
    public string? Data { get; init; }

    public string DatabasePath => Path.Combine(Data ?? Environment.GetEnvironmentVariable("HORIZON_DATA") ?? ".horizon", "horizon.db");
}

/// <summary>Settings of the commands that read stored campaigns, locally or from a controller (results, export, report, compare).</summary>
public class ReadSettings : DataSettings
{
    [CommandOption("--controller <URL>")]
    [Description("Read the campaigns from a running controller (`horizon serve`) instead of the local store.")]
    public string? Controller { get; init; }

    [CommandOption("--token <TOKEN>")]
    [Description("Bearer token for --controller (default: $HORIZON_API_TOKEN).")]
    public string? Token { get; init; }
}

/// <summary>The campaigns a command reads as one study: their names, and a name for files and titles.</summary>
public sealed record CampaignSelection(IReadOnlyList<string> Names)
{
    public string Name => string.Join("+", Names);

    public ImmutableArray<ExperimentResult> Experiments(ResultsStore store) => [.. Names.SelectMany(n => store.Experiments(n))];

    public IReadOnlyList<(int Seq, Guid Experiment, int FirstRound, int Rounds)> RunOrder(ResultsStore store) => [.. Names.SelectMany(n => store.RunOrder(n))];

    public Dictionary<string, IReadOnlyList<(int, Guid, int, int)>> RunOrders(ResultsStore store) =>
        Names.ToDictionary(n => n, n => (IReadOnlyList<(int, Guid, int, int)>)[.. store.RunOrder(n).Select(o => ((int, Guid, int, int))o)]);
}

/// <summary>Campaigns read as one study: a name for files and titles, their experiments, and each campaign's run order.</summary>
public sealed record LoadedCampaigns(string Name, ImmutableArray<ExperimentResult> Experiments, Dictionary<string, IReadOnlyList<(int, Guid, int, int)>> RunOrders)
{
    public IReadOnlyList<(int Seq, Guid Experiment, int FirstRound, int Rounds)> RunOrder => [.. RunOrders.Values.SelectMany(o => o)];
}

/// <summary>Settings of the commands that read stored campaigns (results, export, report).</summary>
public class StoredCampaignSettings : ReadSettings
{
    [CommandOption("--campaign <NAME>")]
    [Description("Campaign name or glob (study-*); repeat it to read several campaigns as one study, e.g. one per platform run after a reboot (default: the latest).")]
    public string[]? Campaigns { get; init; }

    /// <summary>The campaigns' experiments and run order, from the local store or a controller; on a problem prints it and returns null.</summary>
    public LoadedCampaigns? Load()
    {
        if (Controller is { } url)
        {
            if (Campaigns is not { Length: > 0 } names || names.Any(n => n.Contains('*') || n.Contains('?')))
            {
                Render.Error("--controller: name the campaign(s) with --campaign NAME (globs are for the local store)");
                return null;
            }

            try
            {
                var experiments = new List<ExperimentResult>();
                var orders = new Dictionary<string, IReadOnlyList<(int, Guid, int, int)>>();
                foreach (var name in names)
                {
                    var text = ControllerResults.FetchAsync(url, Token, name, CancellationToken.None).GetAwaiter().GetResult();
                    experiments.AddRange(Importer.FromJson(text, $"{url} campaign {name}"));
                    foreach (var (campaign, order) in Importer.RunOrders(text))
                    {
                        orders[campaign] = order;
                    }
                }

                return new LoadedCampaigns(string.Join("+", names), [.. experiments], orders);
            }
            catch (IOException e)
            {
                Render.Error(e.Message);
                return null;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or FormatException or UriFormatException)
            {
                Render.Error($"{url}: {e.Message}");
                return null;
            }
        }

        if (!TryOpen(out var store, out var selection))
        {
            return null;
        }

        using (store)
        {
            return new LoadedCampaigns(selection.Name, selection.Experiments(store), selection.RunOrders(store));
        }
    }

    /// <summary>Opens the store and picks the campaigns; on a problem prints it and returns false.</summary>
    public bool TryOpen([NotNullWhen(true)] out ResultsStore? store, [NotNullWhen(true)] out CampaignSelection? selection)
    {
        store = null;
        selection = null;
        if (!File.Exists(DatabasePath))
        {
            Render.Error($"no results store at {DatabasePath}: run `horizon run` first");
            return false;
        }

        ResultsStore? opened = null;
        try
        {
            opened = new ResultsStore(DatabasePath);
            var campaigns = opened.Campaigns();
            var names = new List<string>();
            if (Campaigns is not { Length: > 0 })
            {
                if (Render.LatestCampaign(opened) is not { } latest)
                {
                    Render.Error($"the results store {opened.Path} holds no campaign yet: run `horizon run` (or give --data for another store)");
                    opened.Dispose();
                    return false;
                }

                names.Add(latest);
            }

            foreach (var pattern in Campaigns ?? [])
            {
                var matched = pattern.Contains('*') || pattern.Contains('?')
                    ? campaigns.Where(c => Glob(pattern).IsMatch(c)).Order(StringComparer.Ordinal).ToList()
                    : campaigns.Contains(pattern) ? [pattern] : [];
                if (matched.Count == 0)
                {
                    Render.Error($"no campaign '{pattern}' in {opened.Path}; campaigns: {string.Join(", ", campaigns)}");
                    opened.Dispose();
                    return false;
                }

                names.AddRange(matched.Where(m => !names.Contains(m)));
            }

            selection = new CampaignSelection(names);
        }
        catch (Microsoft.Data.Sqlite.SqliteException e)
        {
            opened?.Dispose();
            Render.Error($"{System.IO.Path.GetFullPath(DatabasePath)} is damaged or not a Horizon results store ({e.Message}): move it aside or give another directory with --data");
            return false;
        }
        catch (StoreException e)
        {
            Render.Error(e.Message);
            return false;
        }

        store = opened;
        return true;
    }

    private static System.Text.RegularExpressions.Regex Glob(string pattern) =>
        new("^" + System.Text.RegularExpressions.Regex.Escape(pattern).Replace("\\*", ".*", StringComparison.Ordinal).Replace("\\?", ".", StringComparison.Ordinal) + "$",
            System.Text.RegularExpressions.RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
}

public class CampaignSettings : DataSettings
{
    [CommandOption("-t|--testbed <FILE>")]
    [Description("Testbed file (default: this machine as one native guest, no SSH).")]
    public string? Testbed { get; init; }

    [CommandOption("-c|--campaign <FILE>")]
    [Description("Campaign file.")]
    public string? Campaign { get; init; }

    [CommandOption("-p|--preset <NAME>")]
    [Description("Built-in campaign: quick (small sizes), study (the 2009 study's single-guest sizes), scaling (§6.2 at small sizes: 1, 2, 4 guests × the three CPU schemes) or multi-vm (§6.2 at the study's sizes: 1-4 guests × the three schemes, 10 rounds). Default: quick.")]
    public string? Preset { get; init; }

    /// <summary>Loads both files; on a mistake prints it (file:line:field) and returns false.</summary>
    public bool TryLoad([NotNullWhen(true)] out Testbed? testbed, [NotNullWhen(true)] out Campaign? campaign)
    {
        try
        {
            (testbed, campaign) = Load();
            return true;
        }
        catch (ConfigException e)
        {
            Render.Error(e.Message);
            testbed = null;
            campaign = null;
            return false;
        }
    }

    public (Testbed Testbed, Campaign Campaign) Load()
    {
        var testbed = Testbed is null ? TestbedFile.Default() : TestbedFile.Load(Testbed);
        if (Campaign is not null && Preset is not null)
        {
            throw new ConfigException("(command line)", 0, 0, "--campaign/--preset", "give one of them, not both");
        }

        var campaign = Campaign is not null ? CampaignFile.Load(Campaign, testbed) : CampaignFile.LoadPreset(Preset ?? "quick", testbed);
        return (testbed, campaign);
    }
}

public static class Render
{
    /// <summary>
    /// True when the output goes to a pipe, a file or a log rather than a terminal: lines are then never wrapped (a
    /// console library's default of 80 columns breaks table cells and messages mid-token), and headings are plain text.
    /// </summary>
    public static bool Plain { get; } = Console.IsOutputRedirected;

    /// <summary>The version and the commit it was built from (the SDK stamps the commit into the informational version).</summary>
    public static string Version { get; } =
        typeof(Render).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion is { } v
            ? (v.Split('+') is [var number, var commit] ? $"{number} (commit {commit})" : $"{v} (commit unknown: not built from a git checkout)")
            : "unknown";

    /// <summary>Call once at start: gives redirected output the whole line.</summary>
    public static void ConfigureConsole()
    {
        if (Plain)
        {
            AnsiConsole.Profile.Width = PlainWidth;
        }
    }

    /// <summary>Wide enough for any message or table row Horizon prints; nothing is drawn to this width (headings are plain).</summary>
    public const int PlainWidth = 16_384;

    public static void Heading(string text)
    {
        if (Plain)
        {
            Console.WriteLine($"── {text} ──");
        }
        else
        {
            AnsiConsole.Write(new Rule(Markup.Escape(text)).LeftJustified());
        }
    }

    /// <summary>
    /// Ctrl-C and SIGTERM cancel <paramref name="cts"/> instead of ending the process: a campaign stops with every recorded
    /// round kept and the store closed (running it again resumes).
    /// </summary>
    public static IDisposable CancelOnSignals(CancellationTokenSource cts)
    {
        void OnCancelKey(object? sender, ConsoleCancelEventArgs e)
        {
            e.Cancel = true;
            cts.Cancel();
        }

        Console.CancelKeyPress += OnCancelKey;
        var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c =>
        {
            c.Cancel = true;
            cts.Cancel();
        });
        return new Unsubscribe(() =>
        {
            Console.CancelKeyPress -= OnCancelKey;
            sigterm.Dispose();
        });
    }

    private sealed class Unsubscribe(Action action) : IDisposable
    {
        public void Dispose() => action();
    }

    private static readonly string[] ResultColumns = ["platform", "guest", "workload", "parameters", "scheme", "n", "failed", "mean ± 95% CI", "CV", "ratio to native [95% CI]"];

    public static Table ResultsTable(IReadOnlyList<ResultRow> rows)
    {
        var table = new Table().Border(TableBorder.Rounded);
        var steal = Reports.ResultsTable.HasSteal(rows);
        foreach (var h in ResultColumns.Concat(steal ? ["steal"] : []))
        {
            table.AddColumn(new TableColumn(Markup.Escape(h)));
        }

        foreach (var r in rows)
        {
            string[] cells = [
                Markup.Escape(r.Experiment.Platform), Markup.Escape(r.Experiment.GuestLabel), Markup.Escape(r.Experiment.Workload),
                Markup.Escape(Reports.ResultsTable.Parameters(r.Experiment)), r.Experiment.Scheme, (r.Statistics?.N ?? 0).ToString(),
                r.Experiment.FailedCount > 0 ? $"[red]{r.Experiment.FailedCount}[/]" : "0",
                Markup.Escape(Reports.ResultsTable.MeanCi(r.Statistics, r.Experiment.Metric)),
                r.Statistics is { N: > 1 } s ? s.CoefficientOfVariation.ToString("P1") : "—",
                Markup.Escape(Reports.ResultsTable.Ratio(r))];
            table.AddRow(steal ? [.. cells, Markup.Escape(Reports.ResultsTable.Steal(r.Experiment))] : cells);
        }

        return table;
    }

    public static void Results(ResultsStore store, string campaign) => Results(campaign, store.Experiments(campaign));

    public static void Results(string campaign, IReadOnlyList<ExperimentResult> experiments)
    {
        var rows = Reports.ResultsTable.Build(experiments);
        Heading($"campaign {campaign}");
        if (!Plain && AnsiConsole.Profile.Width >= 160)
        {
            AnsiConsole.Write(ResultsTable(rows));
        }
        else
        {
            // Narrow or redirected output: fixed columns that never wrap, one experiment per line.
            Console.Write(Reports.ResultsTable.ToText(rows));
        }

        if (Reports.ForwardingTable.Build(experiments) is { Length: > 0 } forwarding)
        {
            Heading("forwarding: zero-loss throughput (RFC 2544) next to the generator's own ceiling");
            Console.Write(Reports.ForwardingTable.ToText(forwarding));
        }

        foreach (var r in rows)
        {
            foreach (var c in r.Conclusions.Where(c => c.Kind != Analysers.ConclusionKind.Hint))
            {
                AnsiConsole.MarkupLine($"[yellow]{c.Kind.ToString().ToLowerInvariant()}[/] {Markup.Escape(r.Experiment.Key)} on {Markup.Escape(r.Experiment.GuestLabel)}: {Markup.Escape(c.Message)}");
            }

            if (r.Experiment.Note is { Length: > 0 } note)
            {
                AnsiConsole.MarkupLine($"[red]{r.Experiment.Status.ToLowerInvariant()}[/] {Markup.Escape(r.Experiment.Key)}: {Markup.Escape(note)}");
            }
        }

        var failedReasons = experiments.SelectMany(e => e.Rounds.Where(x => !x.Measured).Select(x => (e.Key, x))).Take(10).ToList();
        foreach (var (key, x) in failedReasons)
        {
            AnsiConsole.MarkupLine($"[grey]failed round[/] {Markup.Escape(key)} {Markup.Escape(x.Guest)} #{x.Round}: {Markup.Escape(x.Reason ?? "")}");
        }

        // The guest's own clock, shown beside the external measurement (never used as the result).
        var drift = experiments.SelectMany(e => e.Rounds).Where(x => x.Counts && x.Seconds > 0 && x.GuestSeconds is not null).ToList();
        if (drift.Count > 0)
        {
            var worst = drift.MaxBy(x => Math.Abs(x.GuestSeconds!.Value / x.Seconds!.Value - 1))!;
            AnsiConsole.MarkupLine($"[grey]guest clocks: worst round read {ResultsTableSeconds(worst.GuestSeconds!.Value)} s inside {Markup.Escape(worst.Guest)} vs {ResultsTableSeconds(worst.Seconds!.Value)} s measured by probes ({(worst.GuestSeconds!.Value / worst.Seconds!.Value - 1):+0.0%;-0.0%})[/]");
        }
    }

    private static string ResultsTableSeconds(double s) => Reports.ResultsTable.Seconds(s);

    public static string? LatestCampaign(ResultsStore store) => store.Campaigns().FirstOrDefault();

    /// <summary>An unexpected failure: one line with its type (HORIZON_DEBUG=1 shows the stack trace).</summary>
    public static int Crash(Exception e)
    {
        AnsiConsole.MarkupLine($"[red]error:[/] {Markup.Escape(e.GetType().Name)}: {Markup.Escape(e.Message)} (HORIZON_DEBUG=1 for the stack trace)");
        return 70;
    }

    public static int Error(string message)
    {
        AnsiConsole.MarkupLine($"[red]error:[/] {Markup.Escape(message)}");
        return 2;
    }
}
