using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Horizon.Results;

namespace Horizon.Reports;

/// <summary>Reads an export (<c>horizon export -f json</c>, schema "horizon-results") back into experiments, e.g. one made on another machine.</summary>
public static class Importer
{
    public static ImmutableArray<ExperimentResult> FromJson(string text, string source)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(text);
        }
        catch (JsonException e)
        {
            throw new FormatException($"{source}: not JSON ({e.Message})", e);
        }

        if (root?["schema"]?.GetValue<string>() != "horizon-results" || root["experiments"] is not JsonArray experiments)
        {
            throw new FormatException($"{source}: not a Horizon results export (expected \"schema\": \"horizon-results\"; write one with `horizon export -f json`)");
        }

        var version = root["schema_version"]?.GetValue<int>() ?? 0;
        if (version > Exporters.JsonSchemaVersion)
        {
            throw new FormatException($"{source}: schema_version {version} is newer than this Horizon reads ({Exporters.JsonSchemaVersion})");
        }

        var list = ImmutableArray.CreateBuilder<ExperimentResult>();
        var order = 0;
        foreach (var node in experiments)
        {
            var e = node!.AsObject();
            try
            {
                list.Add(Experiment(e, order++));
            }
            catch (Exception x) when (x is InvalidOperationException or NullReferenceException or FormatException or KeyNotFoundException)
            {
                throw new FormatException($"{source}: experiments[{order - 1}] is incomplete or malformed ({x.Message})", x);
            }
        }

        return list.ToImmutable();
    }

    private static ExperimentResult Experiment(JsonObject e, int order)
    {
        string S(string name) => e[name]?.GetValue<string>() ?? throw new KeyNotFoundException($"no \"{name}\"");
        ImmutableArray<string> List(string name) => [.. (e[name] as JsonArray ?? throw new KeyNotFoundException($"no \"{name}\"")).Select(x => x!.GetValue<string>())];
        var parameters = (e["parameters"] as JsonObject ?? []).ToImmutableSortedDictionary(p => p.Key, p => p.Value?.GetValue<string>() ?? "", StringComparer.Ordinal);
        var rounds = (e["rounds"] as JsonArray ?? []).Select(r => Round(r!.AsObject())).ToImmutableArray();
        return new ExperimentResult(
            Guid.Parse(S("id")), S("campaign"), S("key"), S("workload"), parameters, List("guests"), List("platforms"), S("scheme"), S("status"),
            e["stop_reason"]?.GetValue<string>(), e["note"]?.GetValue<string>(), e["environment"]?.ToJsonString() ?? "{}", order, 0, null, rounds);
    }

    private static RoundResult Round(JsonObject r)
    {
        double? D(string name) => r[name] is JsonValue v ? v.GetValue<double>() : null;
        var metrics = r["metrics"] is JsonObject m ? m.ToImmutableDictionary(p => p.Key, p => p.Value!.GetValue<double>()) : null;
        return new RoundResult(
            r["guest_index"]!.GetValue<int>(), r["guest"]!.GetValue<string>(), r["round"]!.GetValue<int>(), r["outcome"]!.GetValue<string>() == "measured",
            D("seconds"), D("guest_seconds"), D("guest_start_epoch"), r["exit_code"] is JsonValue rc ? rc.GetValue<int>() : null, r["reason"]?.GetValue<string>(),
            r["recorded_unix_ms"]?.GetValue<long>() ?? 0, metrics, r["warmup"]?.GetValue<bool>() ?? false);
    }

    /// <summary>The export's run order per campaign (empty where it has none).</summary>
    public static Dictionary<string, IReadOnlyList<(int Seq, Guid Experiment, int FirstRound, int Rounds)>> RunOrders(string text)
    {
        var orders = new Dictionary<string, IReadOnlyList<(int, Guid, int, int)>>();
        if (JsonNode.Parse(text)?["run_order"] is JsonObject byCampaign)
        {
            foreach (var (campaign, blocks) in byCampaign)
            {
                orders[campaign] = [.. (blocks as JsonArray ?? []).Select(b => (b!["seq"]!.GetValue<int>(), Guid.Parse(b["experiment_id"]!.GetValue<string>()), b["first_round"]!.GetValue<int>(), b["rounds"]!.GetValue<int>()))];
            }
        }

        return orders;
    }

    /// <summary>A campaign name for a file's experiments: the campaign they say they belong to, or the file's name.</summary>
    public static string NameOf(ImmutableArray<ExperimentResult> experiments, string path) =>
        experiments.Select(x => x.Campaign).Distinct().Count() == 1 ? $"{experiments[0].Campaign} ({Path.GetFileName(path)})" : Path.GetFileName(path);

    internal static string Invariant(double v) => v.ToString(CultureInfo.InvariantCulture);
}
