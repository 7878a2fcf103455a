using System.ComponentModel;
using System.Net;
using Horizon.Config;
using Horizon.Grains;
using Horizon.Scheduler;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Horizon.Cli;

public sealed class RunCommand : AsyncCommand<RunCommand.Settings>
{
    public sealed class Settings : CampaignSettings
    {
        [CommandOption("--name <NAME>")]
        [Description("Store the campaign under this name (default: the campaign's own). Running a name again resumes it.")]
        public string? Name { get; init; }

        [CommandOption("--managed-timestamps")]
        [Description("Use a clock read after receive instead of kernel receive timestamps (for comparison only).")]
        public bool ManagedTimestamps { get; init; }

        [CommandOption("--controller <URL>")]
        [Description("Submit the campaign to a running controller (`horizon serve`) instead of running it in this process.")]
        public string? Controller { get; init; }

        [CommandOption("--token <TOKEN>")]
        [Description("Bearer token for --controller (default: $HORIZON_API_TOKEN).")]
        public string? Token { get; init; }
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.Name is not null && CampaignName.Problem(settings.Name) is { } badName)
        {
            return Render.Error($"--name: {badName}");
        }

        if (settings.Controller is { } url)
        {
            // The controller parses and validates the files; its errors come back with file:line:field.
            return await RemoteRun.RunAsync(url, settings.Token, settings, settings.Name, cancellationToken);
        }

        if (!settings.TryLoad(out var testbed, out var campaign))
        {
            return 2;
        }

        if (settings.Name is { Length: > 0 } name)
        {
            campaign = campaign with { Name = name };
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var signals = Render.CancelOnSignals(cts);
        var bind = new IPEndPoint(IPAddress.Parse(testbed.ProbeAddress), testbed.ProbePort);
        await using var controller = await EmbeddedController.StartAsync(settings.DatabasePath, bind, settings.ManagedTimestamps, testbed.ProbeNetworkNamespace, cts.Token);
        AnsiConsole.MarkupLine($"[grey]horizon: testbed {Markup.Escape(testbed.Name)} ({testbed.Guests.Length} guest(s)), campaign {Markup.Escape(campaign.Name)} ({campaign.Experiments.Length} experiments), probes on udp {controller.Timing.LocalEndPoint} with {controller.Timing.TimestampDescription}; store {Markup.Escape(controller.Store.Path)}[/]");
        foreach (var skipped in campaign.Skipped)
        {
            AnsiConsole.MarkupLine($"[yellow]left out[/] {Markup.Escape(skipped)}");
        }

        CampaignOutcome outcome;
        try
        {
            if (AnsiConsole.Profile.Capabilities.Interactive)
            {
                outcome = await AnsiConsole.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                    .StartAsync(async ctx =>
                    {
                        var progress = new LiveProgress(ctx);
                        return await new CampaignRunner(controller.Grains, controller.Timing, testbed, progress).RunAsync(campaign, cts.Token);
                    });
            }
            else
            {
                outcome = await new CampaignRunner(controller.Grains, controller.Timing, testbed, new LineProgress()).RunAsync(campaign, cts.Token);
            }
        }
        catch (OperationCanceledException)
        {
            AnsiConsole.MarkupLine("[yellow]interrupted: every round recorded so far is kept; run the same command again to resume.[/]");
            return 130;
        }

        var counters = controller.Timing.Counters;
        AnsiConsole.MarkupLine($"[grey]probes: {counters.Datagrams} datagrams, {counters.Accepted} accepted, {counters.Duplicates} redundant copies dropped, {counters.RejectedTotal} rejected{(counters.RejectedTotal > 0 ? " (" + string.Join(", ", counters.Rejected.Where(r => r.Value > 0).Select(r => $"{r.Key}: {r.Value}")) + ")" : "")}[/]");
        Render.Results(controller.Store, campaign.Name);
        return outcome.AllCompleted ? 0 : 1;
    }

    private sealed class LineProgress : IRunProgress
    {
        public void ExperimentStarted(ExperimentDefinition d, ExperimentSnapshot s) =>
            Console.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {d.Key} on {string.Join(",", d.Guests)}: preparing");

        public void RoundRecorded(ExperimentDefinition d, RoundRecord r, ExperimentSnapshot s) =>
            Console.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {ProgressLines.Round(d, r, s)}");

        public void ExperimentFinished(ExperimentDefinition d, ExperimentStatus status, string? note, ExperimentSnapshot s) =>
            Console.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {d.Key}: {status.ToString().ToLowerInvariant()}{(note is null ? "" : $": {note}")}{(s.StopReason is null ? "" : $" ({s.StopReason})")}");

        public void Message(string text) => Console.WriteLine(text);
    }

    private sealed class LiveProgress(ProgressContext ctx) : IRunProgress
    {
        private readonly Dictionary<Guid, ProgressTask> tasks = [];

        public void ExperimentStarted(ExperimentDefinition d, ExperimentSnapshot s)
        {
            lock (tasks)
            {
                if (!tasks.ContainsKey(d.Id))
                {
                    tasks[d.Id] = ctx.AddTask(Describe(d, s), maxValue: d.MaxRounds * d.Guests.Length);
                }
            }
        }

        public void RoundRecorded(ExperimentDefinition d, RoundRecord r, ExperimentSnapshot s)
        {
            lock (tasks)
            {
                if (tasks.TryGetValue(d.Id, out var t))
                {
                    t.Value = s.Measured + s.Failed;
                    t.Description = Describe(d, s);
                }
            }
        }

        public void ExperimentFinished(ExperimentDefinition d, ExperimentStatus status, string? note, ExperimentSnapshot s)
        {
            lock (tasks)
            {
                if (!tasks.TryGetValue(d.Id, out var t))
                {
                    tasks[d.Id] = t = ctx.AddTask(Describe(d, s), maxValue: 1);
                }

                t.Description = Describe(d, s) + (status == ExperimentStatus.Failed ? " [red]failed[/]" : "");
                t.Value = t.MaxValue;
                t.StopTask();
            }
        }

        public void Message(string text) => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(text)}[/]");

        private static string Describe(ExperimentDefinition d, ExperimentSnapshot s) =>
            Markup.Escape($"{d.Workload,-12} {string.Join(",", d.Guests),-10} n={s.Measured,3}{(s.Failed > 0 ? $" failed={s.Failed}" : "")} {(s.Mean is { } m ? $"{m:0.000} s" : "")}{(s.HalfWidth is { } h ? $" ± {h:0.000}" : "")}");
    }
}

public sealed class ResultsCommand : Command<ResultsCommand.Settings>
{
    public sealed class Settings : StoredCampaignSettings
    {
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.Load() is not { } loaded)
        {
            return 2; // the error is printed
        }

        Render.Results(loaded.Name, loaded.Experiments);

        return 0;
    }
}

public sealed class ExportCommand : Command<ExportCommand.Settings>
{
    public sealed class Settings : StoredCampaignSettings
    {
        [CommandOption("-o|--out <DIR>")]
        [Description("Output directory (default: ./horizon-export).")]
        public string Out { get; init; } = "horizon-export";

        [CommandOption("-f|--format <FORMAT>")]
        [Description("csv, json, hyperfine (hyperfine's JSON layout), markdown or all (default).")]
        public string Format { get; init; } = "all";
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.Format is not ("csv" or "json" or "hyperfine" or "markdown" or "all"))
        {
            return Render.Error($"--format: expected csv, json, hyperfine, markdown or all, got '{settings.Format}'");
        }

        if (settings.Load() is not { } loaded)
        {
            return 2; // the error is printed
        }

        var campaign = loaded.Name;
        var experiments = loaded.Experiments;
        var rows = Reports.ResultsTable.Build(experiments);
        Directory.CreateDirectory(settings.Out);
        var written = new List<string>();
        if (settings.Format is "csv" or "all")
        {
            File.WriteAllText(Path.Combine(settings.Out, $"{campaign}.rounds.csv"), Reports.Exporters.RoundsCsv(experiments));
            File.WriteAllText(Path.Combine(settings.Out, $"{campaign}.experiments.csv"), Reports.Exporters.ExperimentsCsv(rows));
            written.AddRange([$"{campaign}.rounds.csv", $"{campaign}.experiments.csv"]);
        }

        if (settings.Format is "json" or "all")
        {
            var order = loaded.RunOrders;
            File.WriteAllText(Path.Combine(settings.Out, $"{campaign}.json"), Reports.Exporters.Json(rows, order));
            written.Add($"{campaign}.json");
        }

        if (settings.Format is "hyperfine" or "all")
        {
            File.WriteAllText(Path.Combine(settings.Out, $"{campaign}.hyperfine.json"), Reports.OtherFormats.HyperfineJson(rows));
            written.Add($"{campaign}.hyperfine.json");
        }

        if (settings.Format is "markdown" or "all")
        {
            File.WriteAllText(Path.Combine(settings.Out, $"{campaign}.md"), Reports.OtherFormats.Markdown(campaign, rows));
            written.Add($"{campaign}.md");
        }

        foreach (var f in written)
        {
            AnsiConsole.WriteLine(Path.Combine(settings.Out, f));
        }

        return 0;
    }
}
