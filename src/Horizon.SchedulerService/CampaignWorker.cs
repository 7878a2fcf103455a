using System.Collections.Immutable;
using Horizon.Cluster;
using Horizon.Config;
using Horizon.Desk;
using Horizon.Scheduler;

namespace Horizon.SchedulerService;

/// <summary>
/// The scheduler service's loop: claim a campaign from the cluster's desk, run it here (SSH sessions to the guests, the
/// probe socket they time their rounds against), report progress every second. Grain calls go through the cluster's
/// client; a controller silo that dies mid-campaign costs retries, not rounds (see <see cref="RetryingCallFilter"/>).
/// </summary>
public sealed partial class CampaignWorker(IGrainFactory grains, IConfiguration configuration, ILogger<CampaignWorker> logger) : BackgroundService
{
    private readonly string worker = configuration["Horizon:WorkerId"] ?? $"{System.Environment.MachineName}-scheduler";
    private readonly int? probePort = configuration.GetValue<int?>("Horizon:ProbePort");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Log.Ready(logger, worker, probePort);
        var desk = grains.GetGrain<ISubmissionsGrain>(ClusterSetup.DeskKey);
        while (!stoppingToken.IsCancellationRequested)
        {
            SubmissionTicket? ticket;
            try
            {
                ticket = await desk.Claim(worker);
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

    private async Task RunAsync(ISubmissionsGrain desk, SubmissionTicket ticket, CancellationToken stoppingToken)
    {
        Submission s;
        try
        {
            s = SubmissionParser.Parse(new CampaignSubmission(ticket.Testbed, ticket.Campaign, ticket.Preset, ticket.Name));
        }
        catch (Exception e) when (e is ConfigException or ArgumentException)
        {
            await desk.Report(ticket.Name, worker, new SubmissionReport(0, 0, [], SubmissionState.Failed, e.Message));
            return;
        }

        Log.Running(logger, s.Name, ticket.Resumed);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var run = CampaignExecution.ExecuteAsync(grains, s, probePort, cts.Token);
        var (measured, failed, lines, undelivered) = (0, 0, 0, 0);
        while (true)
        {
            var done = await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None)) == run;
            var (m, f, total, log) = (s.Measured, s.FailedRounds, s.LogTotal, s.Log);
            var fresh = log.Skip(Math.Max(0, log.Count - (total - lines))).ToImmutableArray();
            var report = new SubmissionReport(m - measured, f - failed, fresh, done ? s.State : SubmissionState.Running, done ? s.Detail : null);
            try
            {
                if (await desk.Report(s.Name, worker, report) && !done)
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

    private static partial class Log
    {
        [LoggerMessage(Level = LogLevel.Information, Message = "scheduler {Worker} ready; probes default to udp port {Port} (null: any)")]
        public static partial void Ready(ILogger logger, string worker, int? port);

        [LoggerMessage(Level = LogLevel.Warning, Message = "cannot reach the cluster's desk: {Message}")]
        public static partial void DeskUnreachable(ILogger logger, string message);

        [LoggerMessage(Level = LogLevel.Information, Message = "running campaign {Campaign} (resumed: {Resumed})")]
        public static partial void Running(ILogger logger, string campaign, bool resumed);

        [LoggerMessage(Level = LogLevel.Warning, Message = "progress report for {Campaign} not delivered: {Message}")]
        public static partial void ReportNotDelivered(ILogger logger, string campaign, string message);

        [LoggerMessage(Level = LogLevel.Information, Message = "campaign {Campaign} {State}")]
        public static partial void Finished(ILogger logger, string campaign, SubmissionState state);
    }
}
