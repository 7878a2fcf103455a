using System.Net;
using Horizon.Api;
using Horizon.Scheduler;
using Microsoft.AspNetCore.Builder;

namespace Horizon.EndToEnd.Tests;

/// <summary>The real API (Kestrel on a free port) in front of a real embedded controller and its campaign desk.</summary>
internal sealed class ApiHost : IAsyncDisposable
{
    private readonly string dir;
    private readonly EmbeddedController controller;
    private readonly WebApplication app;

    private ApiHost(string dir, EmbeddedController controller, EmbeddedCampaignDesk desk, WebApplication app, int port)
    {
        this.dir = dir;
        this.controller = controller;
        this.app = app;
        Desk = desk;
        Port = port;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
    }

    public EmbeddedCampaignDesk Desk { get; }

    public int Port { get; }

    /// <summary>A client of the API over loopback (whatever address it is bound to).</summary>
    public HttpClient Http { get; }

    public static async Task<ApiHost> StartAsync(ApiSecurity security)
    {
        var dir = Directory.CreateTempSubdirectory("horizon-api-").FullName;
        var controller = await EmbeddedController.StartAsync(Path.Combine(dir, "horizon.db"), new IPEndPoint(IPAddress.Loopback, 0));
        var desk = new EmbeddedCampaignDesk(controller);
        var app = ControllerApi.Build(security, desk);
        await app.StartAsync();
        var port = new Uri(ControllerApi.BoundUrl(app).Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal)).Port;
        return new ApiHost(dir, controller, desk, app, port);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await app.StopAsync();
        await app.DisposeAsync();
        await Desk.DisposeAsync();
        await controller.DisposeAsync();
        Directory.Delete(dir, recursive: true);
    }
}
