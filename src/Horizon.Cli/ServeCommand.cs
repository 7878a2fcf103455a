using System.ComponentModel;
using System.Net;
using Horizon.Api;
using Horizon.Scheduler;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Horizon.Cli;

/// <summary>The embedded controller with its HTTP API: campaigns are submitted with `horizon run --controller URL`.</summary>
public sealed class ServeCommand : AsyncCommand<ServeCommand.Settings>
{
    public sealed class Settings : DataSettings
    {
        [CommandOption("--bind <ADDRESS>")]
        [Description("Address the HTTP API listens on (default 127.0.0.1; anything else needs a token).")]
        public string Bind { get; init; } = "127.0.0.1";

        [CommandOption("--port <PORT>")]
        [Description("TCP port of the HTTP API (default 5080; 0 picks a free one).")]
        public int Port { get; init; } = 5080;

        [CommandOption("--token <TOKEN>")]
        [Description("Bearer token required on every request (default: $HORIZON_API_TOKEN).")]
        public string? Token { get; init; }

        [CommandOption("--allowed-host <NAME>")]
        [Description("A name this controller may be addressed by besides loopback names (repeat or comma-separate; default: $HORIZON_ALLOWED_HOSTS). Without a token, requests for any other Host are refused (DNS rebinding).")]
        public string[] AllowedHosts { get; init; } = [];
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        ApiSecurity security;
        try
        {
            security = ApiSecurity.Create(settings.Bind, settings.Port, settings.Token ?? Environment.GetEnvironmentVariable("HORIZON_API_TOKEN"),
                [.. settings.AllowedHosts, Environment.GetEnvironmentVariable("HORIZON_ALLOWED_HOSTS") ?? ""]);
        }
        catch (ArgumentException e)
        {
            return Render.Error(e.Message);
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var signals = Render.CancelOnSignals(cts);

        // The controller's own timing socket is not used: each submitted campaign binds where its testbed says.
        await using var controller = await EmbeddedController.StartAsync(settings.DatabasePath, new IPEndPoint(IPAddress.Loopback, 0), ct: cts.Token);
        await using var queue = new EmbeddedCampaignDesk(controller);
        await using var app = ControllerApi.Build(security, queue);
        await app.StartAsync(cts.Token);
        var url = ControllerApi.BoundUrl(app);
        Console.WriteLine($"horizon: controller API on {url} (token {(security.Token is null ? "not required: loopback only" : "required")}), store {controller.Store.Path}");
        Console.WriteLine($"horizon: submit with `horizon run --controller {url} [--testbed FILE] [--campaign FILE | --preset NAME]`");
        try
        {
            await Task.Delay(Timeout.Infinite, cts.Token);
        }
        catch (OperationCanceledException)
        {
        }

        AnsiConsole.MarkupLine("[grey]horizon: stopping; recorded rounds are kept and a resubmitted campaign resumes.[/]");
        await app.StopAsync(CancellationToken.None);
        return 0;
    }
}
