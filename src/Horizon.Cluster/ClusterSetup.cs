using Horizon.Desk;
using Horizon.Grains;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using StackExchange.Redis;

namespace Horizon.Cluster;

/// <summary>
/// How the distributed mode's processes join the Orleans cluster. Membership comes from configuration (section
/// <c>Orleans</c>: <c>Clustering:ProviderType=Redis</c>, <c>Clustering:ServiceKey=redis</c>, as the AppHost sets it);
/// grain state and results go to the same Redis (<c>ConnectionStrings:redis</c>), so any silo can take over any grain.
/// </summary>
public static class ClusterSetup
{
    /// <summary>Key of the one submissions grain the whole cluster shares.</summary>
    public const string DeskKey = "default";

    /// <summary>Membership tuned to declare a killed silo dead in about a second instead of the default ~7 s.</summary>
    public static void Tune(ClusterMembershipOptions o)
    {
        o.ProbeTimeout = TimeSpan.FromSeconds(1);
        o.NumMissedProbesLimit = 2;
        o.NumVotesForDeathDeclaration = 1;
        o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
        o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
    }

    public static string RedisConnectionString(IConfiguration configuration) =>
        configuration.GetConnectionString("redis")
        ?? throw new InvalidOperationException("no Redis connection string: set ConnectionStrings__redis (the AppHost does) to host:port");

    /// <summary>
    /// The Redis connection, shared, and also under the key the Orleans provider configuration names
    /// (<c>Orleans:Clustering:ServiceKey</c>, "redis" by default) — that is where Orleans' Redis clustering looks for it.
    /// </summary>
    private static string AddRedis(IHostApplicationBuilder builder)
    {
        var redis = RedisConnectionString(builder.Configuration);
        var key = builder.Configuration["Orleans:Clustering:ServiceKey"] ?? "redis";
        builder.Services.AddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(redis));
        builder.Services.AddKeyedSingleton<IConnectionMultiplexer>(key, (sp, _) => sp.GetRequiredService<IConnectionMultiplexer>());
        return redis;
    }

    /// <summary>A controller silo: grains with their state in Redis, results in Redis, the campaign desk for the API.</summary>
    public static IHostApplicationBuilder AddHorizonSilo(this IHostApplicationBuilder builder)
    {
        var redis = AddRedis(builder);
        builder.Services.AddSingleton<RedisResultsStore>(sp => new RedisResultsStore(sp.GetRequiredService<IConnectionMultiplexer>()));
        builder.Services.AddSingleton<IResultsSink>(sp => sp.GetRequiredService<RedisResultsStore>());
        builder.Services.AddSingleton<IResultsReader>(sp => sp.GetRequiredService<RedisResultsStore>());
        builder.Services.AddSingleton<ICampaignDesk>(sp => new GrainCampaignDesk(sp.GetRequiredService<IGrainFactory>(), sp.GetRequiredService<IResultsReader>()));
        builder.Services.AddSingleton(TimeProvider.System);
        builder.UseOrleans(silo =>
        {
            silo.AddRedisGrainStorage(HorizonGrainStorage.Name, o => o.ConfigurationOptions = ConfigurationOptions.Parse(redis));
            // Grain state in Orleans' own binary format, as in the embedded store: the provider's default JSON cannot read
            // back immutable collections (found by the silo-loss test: a reactivated experiment grain failed to load).
            silo.Services.AddOptions<Orleans.Persistence.RedisStorageOptions>(HorizonGrainStorage.Name)
                .Configure<Orleans.Serialization.Serializer>((o, serializer) => o.GrainStorageSerializer = new Orleans.Storage.OrleansGrainStorageSerializer(serializer));
            silo.Configure<ClusterMembershipOptions>(Tune);
            silo.AddActivityPropagation();
        });
        return builder;
    }

    /// <summary>A cluster client whose calls survive a controller silo's death (retried on another): the scheduler service's.</summary>
    public static IHostApplicationBuilder AddHorizonClusterClient(this IHostApplicationBuilder builder)
    {
        AddRedis(builder);
        builder.UseOrleansClient(client =>
        {
            client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(5));
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(15));
            client.AddOutgoingGrainCallFilter<RetryingCallFilter>();
            client.AddActivityPropagation();
        });
        return builder;
    }
}

/// <summary>
/// Retries a grain call that failed because a silo (or the gateway it went through) died: for up to a minute, once a
/// second. Safe because every call the scheduler makes is idempotent or harmless to repeat: a round is recorded once
/// per (experiment, guest, round), and a repeated reservation only skips round numbers.
/// </summary>
public sealed partial class RetryingCallFilter(ILogger<RetryingCallFilter> logger) : IOutgoingGrainCallFilter
{
    public const int Attempts = 60;

    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await context.Invoke();
                return;
            }
            catch (Exception e) when (attempt < Attempts && IsTransient(e))
            {
                RetryLog.Retrying(logger, context.InterfaceMethod?.Name, e.GetType().Name, e.Message, attempt);
                await Task.Delay(TimeSpan.FromSeconds(1));
            }
        }
    }

    public static bool IsTransient(Exception e) => e is SiloUnavailableException or OrleansMessageRejectionException or TimeoutException
        or Orleans.Runtime.Messaging.ConnectionFailedException
        || e is OrleansException o && o.Message.Contains("not stable", StringComparison.Ordinal);

    private static partial class RetryLog
    {
        [LoggerMessage(Level = LogLevel.Warning, Message = "grain call {Method} failed ({Type}: {Message}); retry {Attempt} in 1 s")]
        public static partial void Retrying(ILogger logger, string? method, string type, string message, int attempt);
    }
}
