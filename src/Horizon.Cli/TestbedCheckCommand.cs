using Horizon.Config;
using Horizon.Scheduler;
using Horizon.Scripts;
using Horizon.Workloads;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Horizon.Cli;

public sealed class TestbedCheckCommand : AsyncCommand<CampaignSettings>
{
    public override async Task<int> ExecuteAsync(CommandContext context, CampaignSettings settings, CancellationToken cancellationToken)
    {
        if (!settings.TryLoad(out var testbed, out var campaign))
        {
            return 2;
        }

        AnsiConsole.MarkupLine($"testbed [bold]{Markup.Escape(testbed.Name)}[/] ({Markup.Escape(testbed.SourceFile)}): {testbed.Hosts.Length} host(s), {testbed.Guests.Length} guest(s); probes to {testbed.ProbeAddress}");
        var problems = 0;
        var workloads = campaign.Experiments.Select(e => WorkloadCatalog.Get(e.Workload.Name)).DistinctBy(w => w.Name).ToList();
        foreach (var guest in testbed.Guests)
        {
            try
            {
                await using var transport = Transports.For(guest);
                var host = await EnvironmentProbe.DescribeAsync(guest.Name, guest.Platform, transport, cancellationToken);
                AnsiConsole.MarkupLine($"  [green]ok[/] {Markup.Escape(guest.Name)} ({Names.Of(guest.Platform)}, {guest.Vcpus} vCPU, {Markup.Escape(transport.Description)}): {Markup.Escape(host.CpuModel)}, {host.Cpus} CPUs, kernel {Markup.Escape(host.Kernel)}, {Markup.Escape(host.Os)}");
                foreach (var w in workloads)
                {
                    var check = await transport.RunAsync(GuestScripts.ToolCheck(w.Tools), TimeSpan.FromMinutes(1), null, cancellationToken);
                    var missing = check.Stdout.Split('\n').Select(GuestLine.Parse).OfType<MissingLine>().ToList();
                    foreach (var m in missing)
                    {
                        problems++;
                        var parts = m.Text.Split('|');
                        AnsiConsole.MarkupLine($"  [red]missing[/] {Markup.Escape(w.Name)} needs {Markup.Escape(parts[0])}: apt-get install {Markup.Escape(parts[1])}");
                    }
                }
            }
            catch (Exception e) when (e is TestbedException or IOException)
            {
                problems++;
                AnsiConsole.MarkupLine($"  [red]unreachable[/] {Markup.Escape(guest.Name)}: {Markup.Escape(e.Message)}");
            }
        }

        AnsiConsole.MarkupLine($"campaign [bold]{Markup.Escape(campaign.Name)}[/] ({Markup.Escape(campaign.SourceFile)}): {campaign.Experiments.Length} experiments");
        foreach (var e in campaign.Experiments)
        {
            var rounds = e.Rounds.IsAdaptive ? $"{e.Rounds.Min}..{e.Rounds.Max} rounds until CI ≤ {e.Rounds.TargetRelativeHalfWidth:P1}" : $"{e.Rounds.Max} rounds";
            AnsiConsole.MarkupLine($"  {Markup.Escape(e.Key)}: {rounds}, timeout {Units.FormatDuration(e.RoundTimeout)}");
        }

        AnsiConsole.MarkupLine(problems == 0 ? "[green]testbed ready[/]" : $"[red]{problems} problem(s)[/]");
        return problems == 0 ? 0 : 1;
    }
}
