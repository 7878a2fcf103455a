using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Horizon.Config;
using Http = Microsoft.AspNetCore.Http.Results;
using Horizon.Reports;
using Horizon.Scheduler;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Horizon.Api;

/// <summary>A campaign as submitted over HTTP: YAML texts, or a preset, and an optional name.</summary>
public sealed record CampaignSubmission(string? Testbed, string? Campaign, string? Preset, string? Name);

public sealed record ApiError(string Error, string? File = null, int? Line = null, string? Field = null);

public sealed record SubmissionView(
    string Name, string State, string? Detail, string Testbed, int Experiments, int PlannedRounds, int Measured, int Failed,
    DateTimeOffset SubmittedAt, DateTimeOffset? FinishedAt, int LogTotal, IReadOnlyList<string> Log, IReadOnlyList<string> LeftOut);

/// <summary>
/// The controller's HTTP API: submit a campaign, follow it, read its results. Bound to loopback unless a token is set;
/// every request body is size-limited and validated before anything runs.
/// </summary>
public static partial class ControllerApi
{
    public const long MaxBodyBytes = 1 << 20;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex NamePattern();

    public static WebApplication Build(ApiSecurity security, CampaignQueue queue, Action<ILoggingBuilder>? logging = null)
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
        app.Use(async (context, next) =>
        {
            if (context.Request.Path.StartsWithSegments("/healthz") || security.Allows(context.Request.Headers.Authorization))
            {
                await next(context);
                return;
            }

            context.Response.Headers.WWWAuthenticate = "Bearer";
            await Write(context, StatusCodes.Status401Unauthorized, new ApiError("a bearer token is required (Authorization: Bearer <token>)"));
        });
        Map(app, queue);
        return app;
    }

    /// <summary>The URL the API really listens on (after start; resolves port 0).</summary>
    public static string BoundUrl(WebApplication app) =>
        app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.First();

    private static void Map(WebApplication app, CampaignQueue queue)
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
                s = Parse(submission!);
            }
            catch (ConfigException e)
            {
                return Http.Json(new ApiError(e.Message, e.File, e.Line, e.Field), Json, statusCode: 400);
            }
            catch (ArgumentException e)
            {
                return Http.Json(new ApiError(e.Message), Json, statusCode: 400);
            }

            if (!queue.TrySubmit(s))
            {
                return Http.Json(new ApiError($"campaign '{s.Name}' is already queued or running"), Json, statusCode: 409);
            }

            return Http.Json(View(s), Json, statusCode: 202);
        });

        app.MapGet("/api/campaigns", () =>
        {
            var live = queue.All.Select(View).ToList();
            var stored = queue.Store.Campaigns().Where(c => live.All(l => l.Name != c)).Select(c => new { name = c, state = "Stored" });
            return Http.Json(new { submitted = live, stored }, Json);
        });

        app.MapGet("/api/campaigns/{name}", (string name) =>
            Checked(name) ?? (queue.Find(name) is { } s ? Http.Json(View(s), Json)
                : queue.Store.Campaigns().Contains(name) ? Http.Json(new { name, state = "Stored" }, Json)
                : NotFound(name)));

        app.MapGet("/api/campaigns/{name}/results", (string name, string? format) =>
        {
            if (Checked(name) is { } bad)
            {
                return bad;
            }

            if (!queue.Store.Campaigns().Contains(name))
            {
                return NotFound(name);
            }

            var experiments = queue.Store.Experiments(name);
            var rows = ResultsTable.Build(experiments);
            return (format ?? "json") switch
            {
                "json" => Http.Text(Exporters.Json(rows, new Dictionary<string, IReadOnlyList<(int, Guid, int, int)>> { [name] = queue.Store.RunOrder(name) }), "application/json"),
                "csv" => Http.Text(Exporters.ExperimentsCsv(rows), "text/csv"),
                "rounds.csv" => Http.Text(Exporters.RoundsCsv(experiments), "text/csv"),
                "text" => Http.Text(ResultsTable.ToText(rows), "text/plain"),
                var f => Http.Json(new ApiError($"format '{f}' is not one of json, csv, rounds.csv, text"), Json, statusCode: 400),
            };
        });

        app.MapDelete("/api/campaigns/{name}", (string name) =>
            Checked(name) ?? (queue.TryCancel(name) ? Http.Json(new { name, state = "Cancelling" }, Json, statusCode: 202)
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

    /// <summary>Parses the submitted texts as files named "testbed" and "campaign", so errors read file:line:field.</summary>
    private static Submission Parse(CampaignSubmission s)
    {
        if (s.Campaign is not null && s.Preset is not null)
        {
            throw new ArgumentException("give campaign or preset, not both");
        }

        if (s.Preset is not null && !CampaignFile.Presets.Contains(s.Preset))
        {
            throw new ArgumentException($"preset '{s.Preset}' is not one of {string.Join(", ", CampaignFile.Presets)}");
        }

        var testbed = s.Testbed is null ? TestbedFile.Default() : TestbedFile.Parse("testbed", s.Testbed);
        var campaign = s.Campaign is not null ? CampaignFile.Parse("campaign", s.Campaign, testbed) : CampaignFile.LoadPreset(s.Preset ?? "quick", testbed);
        if (s.Name is not null)
        {
            if (!NamePattern().IsMatch(s.Name))
            {
                throw new ArgumentException($"name '{s.Name}' must be 1-64 letters, digits, '.', '_' or '-'");
            }

            campaign = campaign with { Name = s.Name };
        }
        else if (!NamePattern().IsMatch(campaign.Name))
        {
            throw new ArgumentException($"campaign name '{campaign.Name}' must be 1-64 letters, digits, '.', '_' or '-' to be used in the API");
        }

        return new Submission(campaign.Name, testbed, campaign);
    }

    private static IResult? Checked(string name) =>
        NamePattern().IsMatch(name) ? null : Http.Json(new ApiError($"'{name}' is not a campaign name"), Json, statusCode: 400);

    private static IResult NotFound(string name) => Http.Json(new ApiError($"no campaign '{name}'"), Json, statusCode: 404);

    private static SubmissionView View(Submission s) => new(
        s.Name, s.State.ToString(), s.Detail, s.Testbed.Name, s.Campaign.Experiments.Length, s.PlannedRounds, s.Measured, s.FailedRounds,
        s.SubmittedAt, s.FinishedAt, s.LogTotal, s.Log, s.Campaign.Skipped);

    private static Task Write(HttpContext context, int status, ApiError error)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(error, Json);
    }
}
