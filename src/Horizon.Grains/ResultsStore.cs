using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using Horizon.Results;
using Microsoft.Data.Sqlite;

namespace Horizon.Grains;

/// <summary>
/// The embedded store: experiments, rounds and run order for reports, plus grain state, in one SQLite file
/// with the project's own schema. Rounds are keyed by (experiment, guest, round): recording twice is a no-op.
/// </summary>
public sealed class ResultsStore : IResultsReader, IDisposable
{
    public const int SchemaVersion = 2;
    private readonly string connectionString;
    private readonly Lazy<GroupCommitWriter> writer;

    public ResultsStore(string path)
    {
        Path = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        connectionString = new SqliteConnectionStringBuilder { DataSource = Path, Pooling = true, DefaultTimeout = 30 }.ToString();
        writer = new Lazy<GroupCommitWriter>(() => new GroupCommitWriter(Open()));
        try
        {
            using var c = Open();
            Execute(c, """
                PRAGMA journal_mode=WAL;
                CREATE TABLE IF NOT EXISTS schema_info (version INTEGER NOT NULL);
                CREATE TABLE IF NOT EXISTS grain_state (
                  grain_type TEXT NOT NULL, grain_id TEXT NOT NULL, etag TEXT NOT NULL, payload BLOB NOT NULL,
                  PRIMARY KEY (grain_type, grain_id));
                CREATE TABLE IF NOT EXISTS experiments (
                  id TEXT PRIMARY KEY, campaign TEXT NOT NULL, key TEXT NOT NULL, workload TEXT NOT NULL,
                  parameters TEXT NOT NULL, guests TEXT NOT NULL, platforms TEXT NOT NULL, scheme TEXT NOT NULL,
                  min_rounds INTEGER NOT NULL, max_rounds INTEGER NOT NULL, target REAL, round_timeout_s REAL NOT NULL,
                  ord INTEGER NOT NULL, status TEXT NOT NULL, stop_reason TEXT, note TEXT, environment TEXT NOT NULL DEFAULT '{}',
                  created_ms INTEGER NOT NULL, finished_ms INTEGER);
                CREATE TABLE IF NOT EXISTS rounds (
                  experiment TEXT NOT NULL, guest_index INTEGER NOT NULL, guest TEXT NOT NULL, round INTEGER NOT NULL,
                  outcome TEXT NOT NULL, seconds REAL, guest_seconds REAL, guest_start_epoch REAL, exit_code INTEGER,
                  reason TEXT, recorded_ms INTEGER NOT NULL, metrics TEXT, warmup INTEGER NOT NULL DEFAULT 0,
                  PRIMARY KEY (experiment, guest_index, round));
                CREATE TABLE IF NOT EXISTS run_order (
                  campaign TEXT NOT NULL, seq INTEGER NOT NULL, experiment TEXT NOT NULL, first_round INTEGER NOT NULL, rounds INTEGER NOT NULL,
                  PRIMARY KEY (campaign, seq));
                """);
            if (Scalar(c, "SELECT COUNT(*) FROM schema_info") is 0L)
            {
                Execute(c, $"INSERT INTO schema_info VALUES ({SchemaVersion})");
            }

            // Version 1 stores (before warm-up rounds) gain the column; their rounds were all measured rounds.
            if (Scalar(c, "SELECT COUNT(*) FROM pragma_table_info('rounds') WHERE name = 'warmup'") is 0L)
            {
                Execute(c, "ALTER TABLE rounds ADD COLUMN warmup INTEGER NOT NULL DEFAULT 0");
            }

            Execute(c, $"UPDATE schema_info SET version = {SchemaVersion} WHERE version < {SchemaVersion}");
        }
        catch (SqliteException e)
        {
            throw new StoreException(
                $"{Path} is not a readable Horizon results store ({e.Message}): move it aside (mv {Path} {Path}.bad) or give another directory with --data", e);
        }
    }

    public string Path { get; }

    /// <summary>Committed transactions and the writes they carried (writes / transactions = the group-commit factor).</summary>
    public (long Transactions, long Writes) WriteCounters => writer.IsValueCreated ? writer.Value.Counters : (0, 0);

    public SqliteConnection Open()
    {
        var c = new SqliteConnection(connectionString);
        c.Open();
        return c;
    }

    public Task UpsertExperimentAsync(ExperimentDefinition d, ExperimentStatus status, string? stopReason, string? note, long createdMs, long? finishedMs) =>
        writer.Value.Submit((c, tx) =>
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = """
            INSERT INTO experiments (id, campaign, key, workload, parameters, guests, platforms, scheme, min_rounds, max_rounds, target,
              round_timeout_s, ord, status, stop_reason, note, created_ms, finished_ms)
            VALUES ($id, $campaign, $key, $workload, $parameters, $guests, $platforms, $scheme, $min, $max, $target, $timeout, $ord, $status,
              $stop, $note, $created, $finished)
            ON CONFLICT(id) DO UPDATE SET status = excluded.status, stop_reason = excluded.stop_reason, note = excluded.note,
              finished_ms = excluded.finished_ms, ord = excluded.ord
            """;
        cmd.Parameters.AddWithValue("$id", d.Id.ToString());
        cmd.Parameters.AddWithValue("$campaign", d.Campaign);
        cmd.Parameters.AddWithValue("$key", d.Key);
        cmd.Parameters.AddWithValue("$workload", d.Workload);
        cmd.Parameters.AddWithValue("$parameters", JsonSerializer.Serialize(d.Parameters));
        cmd.Parameters.AddWithValue("$guests", JsonSerializer.Serialize(d.Guests));
        cmd.Parameters.AddWithValue("$platforms", JsonSerializer.Serialize(d.Platforms));
        cmd.Parameters.AddWithValue("$scheme", d.Scheme);
        cmd.Parameters.AddWithValue("$min", d.MinRounds);
        cmd.Parameters.AddWithValue("$max", d.MaxRounds);
        cmd.Parameters.AddWithValue("$target", (object?)d.TargetRelativeHalfWidth ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$timeout", d.RoundTimeoutSeconds);
        cmd.Parameters.AddWithValue("$ord", d.Order);
        cmd.Parameters.AddWithValue("$status", status.ToString());
        cmd.Parameters.AddWithValue("$stop", (object?)stopReason ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$note", (object?)note ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$created", createdMs);
        cmd.Parameters.AddWithValue("$finished", (object?)finishedMs ?? DBNull.Value);
        return cmd.ExecuteNonQuery();
    });

    public Task SetEnvironmentAsync(Guid experiment, string json) => writer.Value.Submit((c, tx) =>
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "UPDATE experiments SET environment = $env WHERE id = $id";
        cmd.Parameters.AddWithValue("$env", json);
        cmd.Parameters.AddWithValue("$id", experiment.ToString());
        return cmd.ExecuteNonQuery();
    });

    /// <summary>Records a round once; returns false when that (experiment, guest, round) was already recorded.</summary>
    public Task<bool> InsertRoundAsync(RoundRecord r) => writer.Value.Submit((c, tx) =>
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = """
            INSERT OR IGNORE INTO rounds (experiment, guest_index, guest, round, outcome, seconds, guest_seconds, guest_start_epoch, exit_code,
              reason, recorded_ms, metrics, warmup)
            VALUES ($e, $gi, $g, $r, $o, $s, $gs, $gse, $rc, $reason, $ms, $metrics, $warmup)
            """;
        cmd.Parameters.AddWithValue("$e", r.Experiment.ToString());
        cmd.Parameters.AddWithValue("$gi", r.GuestIndex);
        cmd.Parameters.AddWithValue("$g", r.Guest);
        cmd.Parameters.AddWithValue("$r", r.Round);
        cmd.Parameters.AddWithValue("$o", r.Outcome.ToString());
        cmd.Parameters.AddWithValue("$s", (object?)r.Seconds ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$gs", (object?)r.GuestSeconds ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$gse", (object?)r.GuestStartEpoch ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$rc", (object?)r.ExitCode ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$reason", (object?)r.Reason ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$ms", r.RecordedUnixMs);
        cmd.Parameters.AddWithValue("$metrics", r.Metrics is { Count: > 0 } m ? JsonSerializer.Serialize(m) : DBNull.Value);
        cmd.Parameters.AddWithValue("$warmup", r.Warmup ? 1 : 0);
        return cmd.ExecuteNonQuery() == 1;
    });

    public Task AppendRunOrderAsync(string campaign, int seq, Guid experiment, int firstRound, int rounds) => writer.Value.Submit((c, tx) =>
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "INSERT OR REPLACE INTO run_order VALUES ($c, $s, $e, $f, $n)";
        cmd.Parameters.AddWithValue("$c", campaign);
        cmd.Parameters.AddWithValue("$s", seq);
        cmd.Parameters.AddWithValue("$e", experiment.ToString());
        cmd.Parameters.AddWithValue("$f", firstRound);
        cmd.Parameters.AddWithValue("$n", rounds);
        return cmd.ExecuteNonQuery();
    });

    public ImmutableArray<string> Campaigns()
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT campaign FROM experiments GROUP BY campaign ORDER BY MAX(created_ms) DESC";
        using var reader = cmd.ExecuteReader();
        var list = ImmutableArray.CreateBuilder<string>();
        while (reader.Read())
        {
            list.Add(reader.GetString(0));
        }

        return list.ToImmutable();
    }

    public ImmutableArray<ExperimentResult> Experiments(string? campaign)
    {
        using var c = Open();
        var rounds = new Dictionary<string, List<RoundResult>>();
        using (var cmd = c.CreateCommand())
        {
            cmd.CommandText = "SELECT experiment, guest_index, guest, round, outcome, seconds, guest_seconds, guest_start_epoch, exit_code, reason, recorded_ms, metrics, warmup FROM rounds ORDER BY recorded_ms, round";
            using var reader = cmd.ExecuteReader();
            while (reader.Read())
            {
                var id = reader.GetString(0);
                if (!rounds.TryGetValue(id, out var list))
                {
                    rounds[id] = list = [];
                }

                list.Add(new RoundResult(
                    reader.GetInt32(1), reader.GetString(2), reader.GetInt32(3), reader.GetString(4) == nameof(RoundOutcome.Measured),
                    NullableDouble(reader, 5), NullableDouble(reader, 6), NullableDouble(reader, 7),
                    reader.IsDBNull(8) ? null : reader.GetInt32(8), reader.IsDBNull(9) ? null : reader.GetString(9), reader.GetInt64(10),
                    reader.IsDBNull(11) ? null : JsonSerializer.Deserialize<ImmutableDictionary<string, double>>(reader.GetString(11)),
                    reader.GetInt64(12) != 0));
            }
        }

        using (var cmd = c.CreateCommand())
        {
            cmd.CommandText = """
                SELECT id, campaign, key, workload, parameters, guests, platforms, scheme, status, stop_reason, note, environment, ord, created_ms, finished_ms
                FROM experiments WHERE ($c IS NULL OR campaign = $c) ORDER BY campaign, ord
                """;
            cmd.Parameters.AddWithValue("$c", (object?)campaign ?? DBNull.Value);
            using var reader = cmd.ExecuteReader();
            var result = ImmutableArray.CreateBuilder<ExperimentResult>();
            while (reader.Read())
            {
                var id = reader.GetString(0);
                result.Add(new ExperimentResult(
                    Guid.Parse(id), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                    JsonSerializer.Deserialize<ImmutableSortedDictionary<string, string>>(reader.GetString(4))!,
                    JsonSerializer.Deserialize<ImmutableArray<string>>(reader.GetString(5)),
                    JsonSerializer.Deserialize<ImmutableArray<string>>(reader.GetString(6)),
                    reader.GetString(7), reader.GetString(8), reader.IsDBNull(9) ? null : reader.GetString(9),
                    reader.IsDBNull(10) ? null : reader.GetString(10), reader.GetString(11), reader.GetInt32(12), reader.GetInt64(13),
                    reader.IsDBNull(14) ? null : reader.GetInt64(14),
                    rounds.TryGetValue(id, out var list) ? [.. list] : []));
            }

            return result.ToImmutable();
        }
    }

    public ImmutableArray<(int Seq, Guid Experiment, int FirstRound, int Rounds)> RunOrder(string campaign)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT seq, experiment, first_round, rounds FROM run_order WHERE campaign = $c ORDER BY seq";
        cmd.Parameters.AddWithValue("$c", campaign);
        using var reader = cmd.ExecuteReader();
        var list = ImmutableArray.CreateBuilder<(int, Guid, int, int)>();
        while (reader.Read())
        {
            list.Add((reader.GetInt32(0), Guid.Parse(reader.GetString(1)), reader.GetInt32(2), reader.GetInt32(3)));
        }

        return list.ToImmutable();
    }

    internal (string ETag, byte[] Payload)? ReadState(string type, string id)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT etag, payload FROM grain_state WHERE grain_type = $t AND grain_id = $i";
        cmd.Parameters.AddWithValue("$t", type);
        cmd.Parameters.AddWithValue("$i", id);
        using var reader = cmd.ExecuteReader();
        return reader.Read() ? (reader.GetString(0), (byte[])reader.GetValue(1)) : null;
    }

    /// <summary>Writes grain state if the stored etag still matches; returns the new etag, or null on a conflict.</summary>
    internal Task<string?> WriteStateAsync(string type, string id, string? expectedETag, byte[] payload) => writer.Value.Submit<string?>((c, tx) =>
    {
        using var read = c.CreateCommand();
        read.Transaction = tx;
        read.CommandText = "SELECT etag FROM grain_state WHERE grain_type = $t AND grain_id = $i";
        read.Parameters.AddWithValue("$t", type);
        read.Parameters.AddWithValue("$i", id);
        var current = read.ExecuteScalar() as string;
        if (current != expectedETag)
        {
            return null;
        }

        var etag = Guid.NewGuid().ToString("N");
        using var write = c.CreateCommand();
        write.Transaction = tx;
        write.CommandText = "INSERT OR REPLACE INTO grain_state VALUES ($t, $i, $e, $p)";
        write.Parameters.AddWithValue("$t", type);
        write.Parameters.AddWithValue("$i", id);
        write.Parameters.AddWithValue("$e", etag);
        write.Parameters.AddWithValue("$p", payload);
        write.ExecuteNonQuery();
        return etag;
    });

    internal Task ClearStateAsync(string type, string id) => writer.Value.Submit((c, tx) =>
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "DELETE FROM grain_state WHERE grain_type = $t AND grain_id = $i";
        cmd.Parameters.AddWithValue("$t", type);
        cmd.Parameters.AddWithValue("$i", id);
        return cmd.ExecuteNonQuery();
    });

    /// <summary>Finishes queued writes and stops the writer.</summary>
    public void Dispose()
    {
        if (writer.IsValueCreated)
        {
            writer.Value.Dispose();
        }
    }

    private static double? NullableDouble(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : r.GetDouble(i);

    private static void Execute(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private static long Scalar(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        return Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
    }
}

/// <summary>The results store cannot be used (not an SQLite file, damaged, unreadable); the message names the file and what to do.</summary>
public sealed class StoreException(string message, Exception inner) : IOException(message, inner);
