using System.ComponentModel;
using Horizon.Figures;
using Horizon.Grains;
using Horizon.Reports;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Horizon.Cli;

/// <summary>`horizon report`: the HTML report (tables, the study's figures as SVG and PNG) and the exports, in one directory.</summary>
public sealed class ReportCommand : Command<ReportCommand.Settings>
{
    public sealed class Settings : DataSettings
    {
        [CommandOption("--campaign <NAME>")]
        [Description("Campaign name (default: the latest).")]
        public string? Campaign { get; init; }

        [CommandOption("-o|--out <DIR>")]
        [Description("Directory to write (default: horizon-report/<campaign>).")]
        public string? Out { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (!File.Exists(settings.DatabasePath))
        {
            return Render.Error($"no results store at {settings.DatabasePath}: run `horizon run` first");
        }

        using var store = new ResultsStore(settings.DatabasePath);
        var campaign = settings.Campaign ?? Render.LatestCampaign(store);
        if (campaign is null || !store.Campaigns().Contains(campaign))
        {
            return Render.Error($"no campaign '{campaign}' in {settings.DatabasePath}; campaigns: {string.Join(", ", store.Campaigns())}");
        }

        var experiments = store.Experiments(campaign);
        var order = store.RunOrder(campaign);
        var dir = settings.Out ?? Path.Combine("horizon-report", campaign);
        var path = HtmlReport.Write(campaign, experiments, order, dir);
        if (experiments.Any(e => e.Guests.Length > 1) || experiments.Select(e => e.Scheme).Distinct().Count() > 1)
        {
            var blocks = order.GroupBy(o => o.Experiment).ToDictionary(g => g.Key, g => (IReadOnlyList<int>)[.. g.Select(o => o.FirstRound)]);
            Console.WriteLine(ScalingTable.ToText(ScalingTable.Build(experiments, blocks)));
        }

        AnsiConsole.MarkupLine($"report: [link]{Markup.Escape(Path.GetFullPath(path))}[/] ({Directory.GetFiles(Path.Combine(dir, "figures"), "*.svg").Length} figures, SVG and PNG)");
        return 0;
    }
}
