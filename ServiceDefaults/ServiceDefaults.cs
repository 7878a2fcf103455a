using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Horizon.ServiceDefaults;

/// <summary>
/// What every distributed Horizon service has: OpenTelemetry traces, metrics and logs (exported over OTLP when
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set — the AppHost sets it for its dashboard), the Orleans meter and the
/// project's own meters, a Prometheus scrape endpoint (<c>/metrics</c>), and health endpoints (<c>/health</c>: ready,
/// <c>/alive</c>: the process answers).
/// </summary>
public static class ServiceDefaultsExtensions
{
    /// <summary>Meters of the project's components (one per component; instruments named <c>horizon.*</c> with units).</summary>
    public static readonly string[] HorizonMeters = ["Horizon.Timing", "Horizon.Scheduler", "Horizon.Api"];

    public const string HealthPath = "/health";
    public const string AlivePath = "/alive";
    public const string MetricsPath = "/metrics";

    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        // Prometheus scrapes every few seconds and health checks poll: ASP.NET Core's per-request lines (request
        // started/finished, endpoint executed) would fill the logs at Information. Requests are traced instead.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.AspNetCore.Routing.EndpointMiddleware", LogLevel.Warning);
        builder.Logging.AddOpenTelemetry(o =>
        {
            o.IncludeFormattedMessage = true;
            o.IncludeScopes = true;
        });
        var otel = builder.Services.AddOpenTelemetry()
            .WithMetrics(m => m
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter("Microsoft.Orleans")
                .AddMeter(HorizonMeters)
                .AddPrometheusExporter())
            .WithTracing(t => t
                .AddSource(builder.Environment.ApplicationName)
                .AddSource("Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application")
                .AddAspNetCoreInstrumentation(o => o.Filter = c =>
                    !c.Request.Path.StartsWithSegments(HealthPath) && !c.Request.Path.StartsWithSegments(AlivePath) && !c.Request.Path.StartsWithSegments(MetricsPath))
                .AddHttpClientInstrumentation());
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            otel.UseOtlpExporter();
        }

        builder.Services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy(), ["live"]);
        return builder;
    }

    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.MapPrometheusScrapingEndpoint(MetricsPath);
        app.MapHealthChecks(HealthPath);
        app.MapHealthChecks(AlivePath, new HealthCheckOptions { Predicate = r => r.Tags.Contains("live") });
        return app;
    }
}
