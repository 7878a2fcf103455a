using System.Collections.Immutable;
using System.ComponentModel;
using System.Globalization;
using Horizon.Grains;
using Horizon.Reports;
using Horizon.Results;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Horizon.Cli;

/// <summary>
/// <c>horizon compare A B</c>: is run B really different from run A? Each side is a campaign of the results store, a
/// campaign on a controller (<c>--controller</c>), or an exported JSON file (<c>horizon export -f json</c>, also from
/// another machine). Exit code 1 when an experiment regressed beyond the threshold, so a pipeline can gate on it.
/// </summary>
public sealed class CompareCommand : AsyncCommand<CompareCommand.Settings>
{
    public sealed class Settings : ReadSettings
    {
        [CommandArgument(0, "<A>")]
        [Description("The reference run: a campaign name, or a JSON export (a path ending in .json).")]
        public string A { get; init; } = "";

        [CommandArgument(1, "<B>")]
        [Description("The run compared with it: a campaign name or a JSON export.")]
        public string B { get; init; } = "";

        [CommandOption("--threshold <PERCENT>")]
        [Description("Smallest change that counts, in % of A's mean (default 5).")]
        public string Threshold { get; init; } = "5";

        [CommandOption("-f|--format <FORMAT>")]
        [Description("text (default), markdown or json.")]
        public string Format { get; init; } = "text";

        [CommandOption("-o|--out <FILE>")]
        [Description("Also write the comparison to this file (in --format).")]
        public string? Out { get; init; }

        public double? ThresholdFraction =>
            double.TryParse(Threshold.TrimEnd('%', ' '), NumberStyles.Float, CultureInfo.InvariantCulture, out var t) && t is >= 0 and < 1000 ? t / 100 : null;
    }

    public override ValidationResult Validate(CommandContext context, Settings settings) =>
        settings.ThresholdFraction is null ? ValidationResult.Error($"--threshold: a percentage from 0 to 1000, got '{settings.Threshold}'")
        : settings.Format is not ("text" or "markdown" or "json") ? ValidationResult.Error($"--format: text, markdown or json, got '{settings.Format}'")
        : ValidationResult.Success();

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        ImmutableArray<ExperimentResult> a, b;
        string nameA, nameB;
        try
        {
            (nameA, a) = await LoadAsync(settings, settings.A, cancellationToken);
            (nameB, b) = await LoadAsync(settings, settings.B, cancellationToken);
        }
        catch (Exception e) when (e is FormatException or IOException or HttpRequestException or StoreException or UnauthorizedAccessException)
        {
            Render.Error(e.Message);
            return 2;
        }

        var report = ComparisonReport.Build(nameA, a, nameB, b, settings.ThresholdFraction!.Value);
        if (report.Compared.IsEmpty)
        {
            Render.Error($"{nameA} and {nameB} have no experiment in common (same workload, parameters, guests and scheme); only in A: {report.OnlyInA.Length}, only in B: {report.OnlyInB.Length}");
            return 2;
        }

        var text = settings.Format switch
        {
            "markdown" => report.ToMarkdown(),
            "json" => report.ToJson(),
            _ => report.ToText(),
        };
        Console.Write(text);
        if (settings.Out is { } file)
        {
            await File.WriteAllTextAsync(file, text, cancellationToken);
        }

        return report.HasRegression ? 1 : 0;
    }

    private static async Task<(string Name, ImmutableArray<ExperimentResult> Experiments)> LoadAsync(Settings settings, string what, CancellationToken ct)
    {
        if (what.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || File.Exists(what))
        {
            if (!File.Exists(what))
            {
                throw new IOException($"{what}: no such file");
            }

            var experiments = Importer.FromJson(await File.ReadAllTextAsync(what, ct), what);
            return (Importer.NameOf(experiments, what), experiments);
        }

        if (settings.Controller is { } url)
        {
            return ($"{what} ({url})", Importer.FromJson(await ControllerResults.FetchAsync(url, settings.Token, what, ct), $"{url} campaign {what}"));
        }

        if (!File.Exists(settings.DatabasePath))
        {
            throw new IOException($"no results store at {settings.DatabasePath} for campaign '{what}' (give --data, --controller, or a .json export)");
        }

        using var store = new ResultsStore(settings.DatabasePath);
        if (!store.Campaigns().Contains(what))
        {
            throw new IOException($"no campaign '{what}' in {store.Path}; campaigns: {string.Join(", ", store.Campaigns())}");
        }

        return (what, store.Experiments(what));
    }
}
