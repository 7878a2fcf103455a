using System.ComponentModel;
using Horizon.Figures;
using Horizon.Reports;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Horizon.Cli;

/// <summary>`horizon report`: the HTML report (tables, the study's figures as SVG and PNG) and the exports, in one directory.</summary>
public sealed class ReportCommand : Command<ReportCommand.Settings>
{
    public sealed class Settings : StoredCampaignSettings
    {
        [CommandOption("-o|--out <DIR>")]
        [Description("Directory to write (default: horizon-report/<campaign>).")]
        public string? Out { get; init; }

        [CommandOption("--study")]
        [Description("Also print the 2009 study's findings, each reproduced / not reproduced / not measured on these campaigns, with the figures that decided it.")]
        public bool Study { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.Load() is not { } loaded)
        {
            return 2; // the error is printed
        }

        var campaign = loaded.Name;
        var experiments = loaded.Experiments;
        var order = loaded.RunOrder;
        var dir = settings.Out ?? Path.Combine("horizon-report", campaign);
        var path = HtmlReport.Write(campaign, experiments, order, dir);
        if (experiments.Any(e => e.Guests.Length > 1) || experiments.Select(e => e.Scheme).Distinct().Count() > 1)
        {
            var blocks = order.GroupBy(o => o.Experiment).ToDictionary(g => g.Key, g => (IReadOnlyList<int>)[.. g.Select(o => o.FirstRound)]);
            Console.WriteLine(ScalingTable.ToText(ScalingTable.Build(experiments, blocks)));
        }

        if (settings.Study)
        {
            Console.WriteLine(StudyFindings.ToText(StudyFindings.Evaluate(experiments)));
        }

        AnsiConsole.MarkupLine($"report: [link]{Markup.Escape(Path.GetFullPath(path))}[/] ({Directory.GetFiles(Path.Combine(dir, "figures"), "*.svg").Length} figures, SVG and PNG)");
        return 0;
    }
}
