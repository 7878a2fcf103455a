using System.Net;
using System.Net.Sockets;
using Horizon.Grains;
using Horizon.Timing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Horizon.Scheduler;

/// <summary>
/// The embedded mode: one process hosting an Orleans silo (localhost clustering on free ports), the SQLite store,
/// and the timing service.
/// </summary>
public sealed class EmbeddedController : IAsyncDisposable
{
    private readonly IHost host;

    private EmbeddedController(IHost host, TimingService timing, ResultsStore store)
    {
        this.host = host;
        Timing = timing;
        Store = store;
    }

    public TimingService Timing { get; }

    public ResultsStore Store { get; }

    public IGrainFactory Grains => host.Services.GetRequiredService<IGrainFactory>();

    public static async Task<EmbeddedController> StartAsync(string databasePath, IPEndPoint probeEndPoint, bool managedTimestamps = false, string? probeNetworkNamespace = null, CancellationToken ct = default)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.TryAddSingleton(TimeProvider.System);
        var siloPort = FreeTcpPort();
        var gatewayPort = FreeTcpPort();
        builder.UseOrleans(silo => silo
            .UseLocalhostClustering(siloPort, gatewayPort, serviceId: "horizon-embedded", clusterId: $"horizon-{Environment.ProcessId}")
            .AddHorizonSqliteStore(databasePath));
        var host = builder.Build();
        await host.StartAsync(ct);
        var timing = new TimingService(probeEndPoint, forceManagedTimestamps: managedTimestamps, networkNamespace: probeNetworkNamespace);
        return new EmbeddedController(host, timing, host.Services.GetRequiredService<ResultsStore>());
    }

    public async ValueTask DisposeAsync()
    {
        Timing.Dispose();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try
        {
            await host.StopAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
        }

        host.Dispose();
    }

    private static int FreeTcpPort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
