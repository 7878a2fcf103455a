using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Orleans.Storage;

namespace Horizon.Grains;

/// <summary>Grain state in the embedded SQLite store (one row per grain: type, id, etag, Orleans-serialized payload).</summary>
public sealed class SqliteGrainStorage(ResultsStore store, Serializer serializer) : IGrainStorage
{
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var row = store.ReadState(stateName, grainId.ToString());
        if (row is { } r)
        {
            grainState.State = serializer.Deserialize<T>(r.Payload);
            grainState.ETag = r.ETag;
            grainState.RecordExists = true;
        }

        return Task.CompletedTask;
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var payload = serializer.SerializeToArray(grainState.State);
        var etag = await store.WriteStateAsync(stateName, grainId.ToString(), grainState.ETag, payload)
            ?? throw new InconsistentStateException($"grain state {stateName}/{grainId} was changed by another activation");
        grainState.ETag = etag;
        grainState.RecordExists = true;
    }

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        await store.ClearStateAsync(stateName, grainId.ToString());
        grainState.ETag = null;
        grainState.RecordExists = false;
    }
}

public static class HorizonSiloExtensions
{
    /// <summary>The embedded store for grain state and results.</summary>
    public static ISiloBuilder AddHorizonSqliteStore(this ISiloBuilder silo, string databasePath)
    {
        silo.Services.AddSingleton(_ => new ResultsStore(databasePath));
        silo.Services.AddSingleton<IResultsSink>(sp => new StoreResultsSink(sp.GetRequiredService<ResultsStore>()));
        silo.Services.AddKeyedSingleton<IGrainStorage>(HorizonGrainStorage.Name, (sp, _) =>
            new SqliteGrainStorage(sp.GetRequiredService<ResultsStore>(), sp.GetRequiredService<Serializer>()));
        return silo;
    }
}
