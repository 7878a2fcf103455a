using System.Collections.Immutable;
using Horizon.Cluster;
using Horizon.Config;
using Horizon.Desk;
using Horizon.Scheduler;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Horizon.SchedulerService;

/// <summary>
/// The scheduler service's loop: claim a campaign from the cluster's desk, run it here (SSH sessions to the guests, the
/// probe socket they time their rounds against), report progress every second. Grain calls go through the cluster's
/// client; a controller silo that dies mid-campaign costs retries, not rounds (see <see cref="RetryingCallFilter"/>).
/// </summary>
public sealed class CampaignWorker(IGrainFactory grains, IConfiguration configuration, ILogger<CampaignWorker> logger) : BackgroundService
{
    private readonly string worker = configuration["Horizon:WorkerId"] ?? $"{System.Environment.MachineName}-scheduler";
    private readonly int? probePort = configuration.GetValue<int?>("Horizon:ProbePort");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        logger.LogInformation("scheduler {Worker} ready; probes default to udp port {Port}", worker, probePort?.ToString() ?? "any");
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
                logger.LogWarning("cannot reach the cluster's desk: {Message}", e.Message);
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

        logger.LogInformation("running campaign {Campaign}{Resumed}", s.Name, ticket.Resumed ? " (resumed)" : "");
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
                logger.LogWarning("progress report for {Campaign} not delivered: {Message}", s.Name, e.Message);
                if (done && ++undelivered < 120)
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None);
                    continue;
                }
            }

            if (done)
            {
                logger.LogInformation("campaign {Campaign} {State}", s.Name, s.State);
                return;
            }
        }
    }
}
