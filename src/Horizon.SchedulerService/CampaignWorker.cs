using System.Collections.Immutable;
using Horizon.Cluster;
using Horizon.Config;
using Horizon.Desk;
using Horizon.Grains;
using Horizon.Scheduler;

namespace Horizon.SchedulerService;

/// <summary>
/// The agent's loop: say who it is and which test hosts it serves, claim the experiments of a campaign that sit on
/// those hosts, run them here (SSH sessions to the guests, the timing socket their probes arrive at), report progress
/// every second. While idle it checks every <see cref="AgentSettings.ReachabilityEvery"/> that its hosts and guests
/// answer and keeps their grains current. Grain calls go through the cluster's client; a controller silo that dies
/// mid-campaign costs retries, not rounds (see <see cref="RetryingCallFilter"/>).
/// </summary>
public sealed partial class CampaignWorker(IGrainFactory grains, AgentSettings settings, ILogger<CampaignWorker> logger) : BackgroundService
{
    private readonly DateTimeOffset startedAt = DateTimeOffset.UtcNow;
    private ImmutableArray<string> unreachable = [];
    private AgentIdentity identity = new(settings.Id, System.Environment.MachineName, null);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        identity = identity with { Hardware = await AgentIdentity.DescribeThisMachineAsync(stoppingToken) };
        SchedulerMetrics.Agent = settings.Id;
        Log.Ready(logger, settings.Id, settings.ServesAny ? "any host it is handed" : string.Join(", ", settings.Hosts.Select(h => $"{h.Testbed}/{h.Host} ({h.Endpoint})")), settings.ProbePort);
        var desk = grains.GetGrain<ISubmissionsGrain>(ClusterSetup.DeskKey);
        var registered = false;
        var checkedAt = DateTimeOffset.MinValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            SubmissionTicket? ticket;
            try
            {
                if (!registered)
                {
                    await RegisterAsync();
                    registered = true;
                }

                if (DateTimeOffset.UtcNow - checkedAt >= settings.ReachabilityEvery)
                {
                    checkedAt = DateTimeOffset.UtcNow;
                    await CheckReachabilityAsync(stoppingToken);
                }

                ticket = await desk.Claim(Hello());
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                Log.DeskUnreachable(logger, e.Message);
                ticket = null;
            }

            if (ticket is null)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
                continue;
            }

            await RunAsync(desk, ticket, stoppingToken);
        }
    }

    private AgentHello Hello() => new(settings.Id, identity.Machine, System.Environment.ProcessId, settings.ServesAny, settings.Hosts,
        settings.Probes is { } p ? $"udp {p.Address}:{(p.Port == 0 ? "any" : p.Port)}{(p.Netns is null ? "" : $" in netns {p.Netns}")}" : null,
        identity.Hardware, unreachable, startedAt);

    /// <summary>The served testbeds' layouts and hosts in their grains, with this agent named as the one serving them.</summary>
    private async Task RegisterAsync()
    {
        foreach (var testbed in settings.Testbeds)
        {
            await grains.GetGrain<ITestbedGrain>(testbed.Name).Register(TestbedLayouts.Of(testbed, settings.Id));
            foreach (var host in testbed.Hosts)
            {
                await grains.GetGrain<IHostGrain>($"{testbed.Name}/{host.Name}").ServedBy(settings.Id, Names.Of(host.Platform), HostEndpoint.Of(host));
            }
        }
    }

    /// <summary>
    /// Asks each served host and guest for `true` over its own transport (never while an experiment runs here: the check
    /// would share the guests' CPUs with a measured round). What does not answer is reported: host grain, guest grain
    /// (unreachable), the agent's hello (so `horizon agents` lists it) and the log.
    /// </summary>
    private async Task CheckReachabilityAsync(CancellationToken ct)
    {
        var lost = new List<string>();
        foreach (var testbed in settings.Testbeds)
        {
            foreach (var host in testbed.Hosts)
            {
                var problem = await AnswersAsync(host.Name, host.Transport, null, ct);
                await grains.GetGrain<IHostGrain>($"{testbed.Name}/{host.Name}").SetReachability(problem is null, problem);
                if (problem is not null)
                {
                    lost.Add($"{testbed.Name}/{host.Name}: {problem}");
                }
            }

            foreach (var guest in testbed.Guests)
            {
                var problem = await AnswersAsync(guest.Name, guest.Transport, guest.Wrapper, ct);
                var grain = grains.GetGrain<IGuestGrain>($"{testbed.Name}/{guest.Name}");
                var info = await grain.Info();
                if (problem is not null)
                {
                    lost.Add($"{testbed.Name}/{guest.Name}: {problem}");
                    await grain.SetStatus(GuestStatus.Unreachable, problem);
                }
                else if (info.Status == GuestStatus.Unreachable)
                {
                    await grain.SetStatus(GuestStatus.Idle, "answers again");
                }

                await grain.SetDuty(new GuestDuty(guest.Host, settings.Id, info.Campaign, info.Experiment));
            }
        }

        foreach (var line in lost.Except(unreachable))
        {
            Log.Unreachable(logger, settings.Id, line);
        }

        unreachable = [.. lost];
    }

    private static async Task<string?> AnswersAsync(string name, TransportSpec spec, IReadOnlyList<string>? wrapper, CancellationToken ct)
    {
        try
        {
            await using var transport = Transports.For(name, spec, wrapper);
            var r = await transport.RunAsync("true", TimeSpan.FromSeconds(15), null, ct);
            return r.ExitCode == 0 ? null : r.TimedOut ? $"no answer within 15 s over {transport.Description}" : $"exit {r.ExitCode} over {transport.Description}: {r.ErrorTail}";
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return e.Message;
        }
    }

    private async Task RunAsync(ISubmissionsGrain desk, SubmissionTicket ticket, CancellationToken stoppingToken)
    {
        Submission s;
        try
        {
            s = SubmissionParser.Parse(new CampaignSubmission(ticket.Testbed, ticket.Campaign, ticket.Preset, ticket.Name));
        }
        catch (Exception e) when (e is ConfigException or ArgumentException)
        {
            await desk.Report(ticket.Name, settings.Id, new SubmissionReport(0, 0, [], SubmissionState.Failed, e.Message));
            return;
        }

        var only = ticket.Keys.IsEmpty ? null : ticket.Keys.ToHashSet(StringComparer.Ordinal);
        Log.Running(logger, s.Name, only?.Count ?? s.Campaign.Experiments.Length, ticket.Resumed);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        SchedulerMetrics.AgentRunning(only?.Count ?? s.Campaign.Experiments.Length);
        var run = CampaignExecution.ExecuteAsync(grains, s, settings.ProbePort, new CampaignExecution.AgentPart(identity, only, settings.Probes), cts.Token);
        var (measured, failed, lines, undelivered) = (0, 0, 0, 0);
        try
        {
            while (true)
            {
                var done = await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None)) == run;
                var (m, f, total, log) = (s.Measured, s.FailedRounds, s.LogTotal, s.Log);
                var fresh = log.Skip(Math.Max(0, log.Count - (total - lines))).ToImmutableArray();
                var report = new SubmissionReport(m - measured, f - failed, fresh, done ? s.State : SubmissionState.Running, done ? s.Detail : null);
                try
                {
                    if (await desk.Report(s.Name, settings.Id, report) && !done)
                    {
                        await cts.CancelAsync();
                    }

                    (measured, failed, lines, undelivered) = (m, f, total, 0);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // The desk's silo is gone for a moment: the next report carries these counts and lines too.
                    Log.ReportNotDelivered(logger, s.Name, e.Message);
                    if (done && ++undelivered < 120)
                    {
                        await Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None);
                        continue;
                    }
                }

                if (done)
                {
                    Log.Finished(logger, s.Name, s.State);
                    return;
                }
            }
        }
        finally
        {
            SchedulerMetrics.AgentRunning(-(only?.Count ?? s.Campaign.Experiments.Length));
        }
    }

    private static partial class Log
    {
        [LoggerMessage(Level = LogLevel.Information, Message = "agent {Agent} ready; serves {Hosts}; probes default to udp port {Port} (null: any)")]
        public static partial void Ready(ILogger logger, string agent, string hosts, int? port);

        [LoggerMessage(Level = LogLevel.Warning, Message = "cannot reach the cluster's desk: {Message}")]
        public static partial void DeskUnreachable(ILogger logger, string message);

        [LoggerMessage(Level = LogLevel.Warning, Message = "agent {Agent} cannot reach {What}")]
        public static partial void Unreachable(ILogger logger, string agent, string what);

        [LoggerMessage(Level = LogLevel.Information, Message = "running campaign {Campaign}: {Experiments} experiment(s) (resumed: {Resumed})")]
        public static partial void Running(ILogger logger, string campaign, int experiments, bool resumed);

        [LoggerMessage(Level = LogLevel.Warning, Message = "progress report for {Campaign} not delivered: {Message}")]
        public static partial void ReportNotDelivered(ILogger logger, string campaign, string message);

        [LoggerMessage(Level = LogLevel.Information, Message = "campaign {Campaign} {State}")]
        public static partial void Finished(ILogger logger, string campaign, SubmissionState state);
    }
}
