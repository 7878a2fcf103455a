using System.Text.Json;
using System.Text.Json.Serialization;
using Horizon.Config;
using Http = Microsoft.AspNetCore.Http.Results;
using Horizon.Reports;
using Horizon.Desk;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Horizon.Api;

public sealed record ApiError(string Error, string? File = null, int? Line = null, string? Field = null);

/// <summary>
/// The controller's HTTP API: submit a campaign, follow it, read its results. Bound to loopback unless a token is set;
/// every request body is size-limited and validated before anything runs.
/// </summary>
public static class ControllerApi
{
    public const long MaxBodyBytes = 1 << 20;

    /// <summary>The controller's meter: submissions by outcome (accepted, refused, conflict).</summary>
    public static readonly System.Diagnostics.Metrics.Meter Meter = new("Horizon.Api");

    private static readonly System.Diagnostics.Metrics.Counter<long> Submissions =
        Meter.CreateCounter<long>("horizon.api.submissions", "{campaign}", "Campaigns submitted to the API, by outcome");

    private static readonly System.Diagnostics.Metrics.Counter<long> Refusals =
        Meter.CreateCounter<long>("horizon.api.refused", "{request}", "Requests refused for a foreign Host or a cross-site origin");

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        // {"preset":"a","preset":"b"} would otherwise run "b" silently; duplicate YAML keys are refused too.
        AllowDuplicateProperties = false,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static WebApplication Build(ApiSecurity security, ICampaignDesk queue, Action<ILoggingBuilder>? logging = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        logging?.Invoke(builder.Logging);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(security.Bind, security.Port);
            k.Limits.MaxRequestBodySize = MaxBodyBytes;
            k.AddServerHeader = false;
        });
        builder.Services.AddSingleton(queue);
        var app = builder.Build();
        Guard(app, security);
        Map(app, queue);
        return app;
    }

    /// <summary>
    /// Refuses foreign and cross-site requests on every path (see <see cref="ApiSecurity.Refusal"/>), then requires the
    /// token (when one is configured) on every request but the health and metrics endpoints.
    /// </summary>
    public static void Guard(WebApplication app, ApiSecurity security) => app.Use(async (context, next) =>
    {
        var request = context.Request;
        if (security.Refusal(request.Headers.Host, request.Headers.Origin, request.Headers["Sec-Fetch-Site"]) is { } refusal)
        {
            Refusals.Add(1);
            await Write(context, StatusCodes.Status403Forbidden, new ApiError(refusal));
            return;
        }

        var open = request.Path.StartsWithSegments("/healthz") || request.Path.StartsWithSegments("/health")
            || request.Path.StartsWithSegments("/alive") || request.Path.StartsWithSegments("/metrics");
        if (open || security.Allows(request.Headers.Authorization))
        {
            await next(context);
            return;
        }

        context.Response.Headers.WWWAuthenticate = "Bearer";
        await Write(context, StatusCodes.Status401Unauthorized, new ApiError("a bearer token is required (Authorization: Bearer <token>)"));
    });

    /// <summary>The URL the API really listens on (after start; resolves port 0).</summary>
    public static string BoundUrl(WebApplication app) =>
        app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.First();

    /// <summary>Maps the API's routes onto an application built elsewhere (the distributed controller's, with its service defaults).</summary>
    public static void Map(WebApplication app, ICampaignDesk queue)
    {
        app.MapGet("/healthz", () => Http.Text("ok"));

        app.MapPost("/api/campaigns", async (HttpContext context) =>
        {
            var (submission, error, status) = await ReadSubmission(context);
            if (error is not null)
            {
                return Http.Json(error, Json, statusCode: status);
            }

            Submission s;
            try
            {
                s = SubmissionParser.Parse(submission!);
            }
            catch (ConfigException e)
            {
                Submissions.Add(1, new KeyValuePair<string, object?>("outcome", "refused"));
                return Http.Json(new ApiError(e.Message, e.File, e.Line, e.Field), Json, statusCode: 400);
            }
            catch (ArgumentException e)
            {
                Submissions.Add(1, new KeyValuePair<string, object?>("outcome", "refused"));
                return Http.Json(new ApiError(e.Message), Json, statusCode: 400);
            }

            if (await queue.SubmitAsync(submission!, s) is not { } view)
            {
                Submissions.Add(1, new KeyValuePair<string, object?>("outcome", "conflict"));
                return Http.Json(new ApiError($"campaign '{s.Name}' is already queued or running"), Json, statusCode: 409);
            }

            Submissions.Add(1, new KeyValuePair<string, object?>("outcome", "accepted"));
            return Http.Json(view, Json, statusCode: 202);
        });

        app.MapGet("/api/campaigns", async () =>
        {
            var live = await queue.AllAsync();
            var stored = queue.Results.Campaigns().Where(c => live.All(l => l.Name != c)).Select(c => new { name = c, state = "Stored" });
            return Http.Json(new { submitted = live, stored }, Json);
        });

        app.MapGet("/api/campaigns/{name}", async (string name) =>
            Checked(name) ?? (await queue.FindAsync(name) is { } s ? Http.Json(s, Json)
                : queue.Results.Campaigns().Contains(name) ? Http.Json(new { name, state = "Stored" }, Json)
                : NotFound(name)));

        app.MapGet("/api/campaigns/{name}/results", (string name, string? format) =>
        {
            if (Checked(name) is { } bad)
            {
                return bad;
            }

            if (!queue.Results.Campaigns().Contains(name))
            {
                return NotFound(name);
            }

            var experiments = queue.Results.Experiments(name);
            var rows = ResultsTable.Build(experiments);
            return (format ?? "json") switch
            {
                "json" => Http.Text(Exporters.Json(rows, new Dictionary<string, IReadOnlyList<(int, Guid, int, int)>> { [name] = queue.Results.RunOrder(name) }), "application/json"),
                "csv" => Http.Text(Exporters.ExperimentsCsv(rows), "text/csv"),
                "rounds.csv" => Http.Text(Exporters.RoundsCsv(experiments), "text/csv"),
                "text" => Http.Text(ResultsTable.ToText(rows), "text/plain"),
                var f => Http.Json(new ApiError($"format '{f}' is not one of json, csv, rounds.csv, text"), Json, statusCode: 400),
            };
        });

        // Agents (one per test computer in the distributed mode): what each serves, whether it is alive, what it runs.
        app.MapGet("/api/agents", async () => Http.Json(await queue.AgentsAsync(), Json));

        app.MapGet("/api/testbeds", async () => Http.Json(await queue.TestbedsAsync(), Json));

        // A testbed's hosts and guests, live: agent, topology, reachability, CPU placement; each guest's state and duty.
        app.MapGet("/api/testbeds/{name}", async (string name) =>
            Checked(name) ?? (await queue.TestbedAsync(name) is { } t ? Http.Json(t, Json)
                : Http.Json(new ApiError($"no testbed '{name}': no agent serves it and no campaign has run on it"), Json, statusCode: 404)));

        app.MapDelete("/api/campaigns/{name}", async (string name) =>
            Checked(name) ?? (await queue.CancelAsync(name) ? Http.Json(new { name, state = "Cancelling" }, Json, statusCode: 202)
                : Http.Json(new ApiError($"campaign '{name}' is not queued or running"), Json, statusCode: 409)));
    }

    private static async Task<(CampaignSubmission? Submission, ApiError? Error, int Status)> ReadSubmission(HttpContext context)
    {
        if (context.Request.ContentType is not { } type || !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            return (null, new ApiError("request body must be JSON (Content-Type: application/json): {\"testbed\": yaml, \"campaign\": yaml | \"preset\": name, \"name\": optional}"), 415);
        }

        try
        {
            var s = await JsonSerializer.DeserializeAsync<CampaignSubmission>(context.Request.Body, Json, context.RequestAborted);
            return s is null ? (null, new ApiError("request body is empty"), 400) : (s, null, 0);
        }
        catch (JsonException e)
        {
            return (null, new ApiError($"request body is not a campaign submission: {e.Message}"), 400);
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException e) when (e.StatusCode == 413)
        {
            return (null, new ApiError($"request body is larger than {MaxBodyBytes} bytes"), 413);
        }
    }

    private static IResult? Checked(string name) =>
        SubmissionParser.IsName(name) ? null : Http.Json(new ApiError($"'{name}' is not a campaign name"), Json, statusCode: 400);

    private static IResult NotFound(string name) => Http.Json(new ApiError($"no campaign '{name}'"), Json, statusCode: 404);

    private static Task Write(HttpContext context, int status, ApiError error)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(error, Json);
    }
}
