using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Horizon.Cluster;

/// <summary>Ready when the cluster answers: the submissions grain replies within 5 s (through this silo or gateway).</summary>
public sealed class ClusterHealthCheck(IGrainFactory grains) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var all = await grains.GetGrain<ISubmissionsGrain>(ClusterSetup.DeskKey).All().WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
            return HealthCheckResult.Healthy($"cluster answers; {all.Length} campaign(s) on the desk");
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy($"the cluster does not answer: {e.Message}");
        }
    }
}
