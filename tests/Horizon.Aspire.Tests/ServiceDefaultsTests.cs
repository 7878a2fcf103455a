using System.Collections.Concurrent;
using Horizon.ServiceDefaults;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Horizon.Aspire.Tests;

/// <summary>The service defaults in a real web host (Kestrel on a free port), with the default log levels of a service.</summary>
public sealed class ServiceDefaultsTests
{
    private sealed class Captured : ILoggerProvider
    {
        public ConcurrentQueue<(string Category, LogLevel Level, string Message)> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, Lines);

        public void Dispose()
        {
        }

        private sealed class Logger(string category, ConcurrentQueue<(string, LogLevel, string)> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                lines.Enqueue((category, logLevel, formatter(state, exception)));
        }
    }

    [Fact]
    public async Task Prometheus_scrapes_and_health_polls_leave_no_information_lines_in_the_log()
    {
        var ct = TestContext.Current.CancellationToken;
        var captured = new Captured();
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.AddServiceDefaults();
        builder.Logging.AddProvider(captured);
        await using var app = builder.Build();
        app.MapDefaultEndpoints();
        await app.StartAsync(ct);
        var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        using var http = new HttpClient { BaseAddress = new Uri(url) };
        for (var i = 0; i < 5; i++)
        {
            Assert.Contains("# ", await http.GetStringAsync("/metrics", ct), StringComparison.Ordinal);
            Assert.Equal("Healthy", await http.GetStringAsync("/health", ct));
        }

        app.Logger.LogInformation("service started its work");
        await app.StopAsync(ct);

        var aboutRequests = captured.Lines.Where(l => l.Level >= LogLevel.Information && (l.Message.Contains("/metrics", StringComparison.Ordinal) || l.Message.Contains("/health", StringComparison.Ordinal))).ToList();
        Assert.True(aboutRequests.Count == 0, string.Join("\n", aboutRequests.Take(5)));

        // The service's own Information lines still arrive: only the per-request lines are quiet.
        Assert.Contains(captured.Lines, l => l.Level == LogLevel.Information && l.Message == "service started its work");
    }
}
