using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using Horizon.Grains;
using Horizon.Results;
using StackExchange.Redis;

namespace Horizon.Cluster;

/// <summary>
/// The distributed mode's results store, in the Redis the cluster already uses (every silo reaches it; a silo that
/// dies loses nothing it recorded). The project's own layout, prefix <c>horizon:</c>:
/// <list type="bullet">
/// <item><c>campaigns</c> — sorted set of campaign names scored by their last experiment's creation time;</item>
/// <item><c>campaign:{name}</c> — sorted set of experiment ids scored by run order;</item>
/// <item><c>experiment:{id}</c> — hash: definition (JSON), status, stop_reason, note, environment, created/finished ms;</item>
/// <item><c>rounds:{id}</c> — hash, field <c>{guest index}:{round}</c>, value the round as JSON; written with HSETNX,
/// so recording a round twice (a retried call after a silo died) is a no-op, as in the embedded store;</item>
/// <item><c>run-order:{campaign}</c> — hash, field the sequence number, value <c>{experiment} {first round} {rounds}</c>.</item>
/// </list>
/// </summary>
public sealed class RedisResultsStore(IConnectionMultiplexer redis, string prefix = "horizon:") : IResultsSink, IResultsReader
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private IDatabase Db => redis.GetDatabase();

    public async Task Experiment(ExperimentDefinition definition, ExperimentStatus status, string? stopReason, string? note, long createdMs, long? finishedMs)
    {
        var key = prefix + "experiment:" + definition.Id;
        var tx = Db.CreateTransaction();
        _ = tx.HashSetAsync(key,
        [
            new("definition", JsonSerializer.Serialize(definition, Json)),
            new("status", status.ToString()),
            new("stop_reason", stopReason ?? ""),
            new("note", note ?? ""),
            new("finished_ms", finishedMs?.ToString(CultureInfo.InvariantCulture) ?? ""),
        ]);
        _ = tx.HashSetAsync(key, "created_ms", createdMs, When.NotExists);
        _ = tx.HashSetAsync(key, "environment", "{}", When.NotExists);
        _ = tx.SortedSetAddAsync(prefix + "campaign:" + definition.Campaign, definition.Id.ToString(), definition.Order);
        _ = tx.SortedSetAddAsync(prefix + "campaigns", definition.Campaign, createdMs, SortedSetWhen.GreaterThan);
        await tx.ExecuteAsync().ConfigureAwait(false);
    }

    public async Task<bool> Round(RoundRecord round) =>
        await Db.HashSetAsync(prefix + "rounds:" + round.Experiment, $"{round.GuestIndex}:{round.Round}", JsonSerializer.Serialize(round, Json), When.NotExists)
            .ConfigureAwait(false);

    public Task Environment(Guid experiment, string json) => Db.HashSetAsync(prefix + "experiment:" + experiment, "environment", json);

    public Task RunOrder(string campaign, int sequence, Guid experiment, int firstRound, int rounds) =>
        Db.HashSetAsync(prefix + "run-order:" + campaign, sequence, $"{experiment} {firstRound} {rounds}");

    public ImmutableArray<string> Campaigns() =>
        [.. Db.SortedSetRangeByRank(prefix + "campaigns", order: Order.Descending).Select(v => v.ToString())];

    public ImmutableArray<ExperimentResult> Experiments(string? campaign)
    {
        var campaigns = campaign is null ? [.. Campaigns().Order(StringComparer.Ordinal)] : new[] { campaign };
        var list = ImmutableArray.CreateBuilder<ExperimentResult>();
        foreach (var c in campaigns)
        {
            foreach (var id in Db.SortedSetRangeByRank(prefix + "campaign:" + c))
            {
                if (Read(Guid.Parse(id.ToString())) is { } e)
                {
                    list.Add(e);
                }
            }
        }

        return list.ToImmutable();
    }

    public ImmutableArray<(int Seq, Guid Experiment, int FirstRound, int Rounds)> RunOrder(string campaign) =>
    [
        .. Db.HashGetAll(prefix + "run-order:" + campaign).Select(e =>
        {
            var parts = e.Value.ToString().Split(' ');
            return ((int)e.Name, Guid.Parse(parts[0]), int.Parse(parts[1], CultureInfo.InvariantCulture), int.Parse(parts[2], CultureInfo.InvariantCulture));
        }).OrderBy(e => e.Item1),
    ];

    private ExperimentResult? Read(Guid id)
    {
        var fields = Db.HashGetAll(prefix + "experiment:" + id).ToDictionary(e => e.Name.ToString(), e => e.Value.ToString(), StringComparer.Ordinal);
        if (!fields.TryGetValue("definition", out var json))
        {
            return null;
        }

        var d = JsonSerializer.Deserialize<ExperimentDefinition>(json, Json)!;
        var rounds = Db.HashValues(prefix + "rounds:" + id)
            .Select(v => JsonSerializer.Deserialize<RoundRecord>(v.ToString(), Json)!)
            .OrderBy(r => r.RecordedUnixMs).ThenBy(r => r.Round)
            .Select(r => new RoundResult(r.GuestIndex, r.Guest, r.Round, r.Outcome == RoundOutcome.Measured, r.Seconds, r.GuestSeconds, r.GuestStartEpoch,
                r.ExitCode, r.Reason, r.RecordedUnixMs, r.Metrics, r.Warmup))
            .ToImmutableArray();
        string? Text(string name) => fields.TryGetValue(name, out var v) && v.Length > 0 ? v : null;
        return new ExperimentResult(
            d.Id, d.Campaign, d.Key, d.Workload, d.Parameters, d.Guests, d.Platforms, d.Scheme,
            Text("status") ?? nameof(ExperimentStatus.Pending), Text("stop_reason"), Text("note"), Text("environment") ?? "{}", d.Order,
            long.Parse(Text("created_ms") ?? "0", CultureInfo.InvariantCulture),
            Text("finished_ms") is { } f ? long.Parse(f, CultureInfo.InvariantCulture) : null,
            rounds);
    }
}
