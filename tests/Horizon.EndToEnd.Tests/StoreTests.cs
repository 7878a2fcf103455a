using System.Collections.Immutable;
using Horizon.Grains;
using Horizon.Results;
using Microsoft.Data.Sqlite;

namespace Horizon.EndToEnd.Tests;

public sealed class StoreTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("horizon-store-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static ExperimentDefinition Definition(Guid id) => new(id, "store", "k", "command", ImmutableSortedDictionary<string, string>.Empty,
        ["g0"], ["native"], "default", 1, 10, null, 30, 0);

    private static RoundRecord Round(Guid id, int round) =>
        new(id, 0, "g0", round, RoundOutcome.Measured, 1.0 + round, null, null, 0, null, 1);

    [Fact]
    public async Task Concurrent_writes_share_commits_and_every_one_is_durable_once_its_task_completes()
    {
        var path = Path.Combine(dir, "a.db");
        var id = Guid.NewGuid();
        using (var store = new ResultsStore(path))
        {
            await store.UpsertExperimentAsync(Definition(id), ExperimentStatus.Running, null, null, 0, null);
            var inserted = await Task.WhenAll(Enumerable.Range(0, 2000).Select(r => Task.Run(() => store.InsertRoundAsync(Round(id, r)))));
            Assert.All(inserted, Assert.True);
            var (commits, writes) = store.WriteCounters;
            Assert.Equal(2001, writes);
            Assert.True(commits < writes, $"{commits} commits for {writes} writes: nothing was grouped");

            // Recording the same round again is a no-op that says so.
            Assert.False(await store.InsertRoundAsync(Round(id, 7)));
        }

        // A fresh process's view: every round is there, once.
        using var reopened = new ResultsStore(path);
        var e = Assert.Single(reopened.Experiments("store"));
        Assert.Equal(2000, e.Rounds.Length);
        Assert.Equal(Enumerable.Range(0, 2000), e.Rounds.Select(r => r.Round).Order());
    }

    [Fact]
    public async Task A_write_that_fails_fails_alone_and_the_writes_grouped_with_it_still_land()
    {
        var path = Path.Combine(dir, "b.db");
        var id = Guid.NewGuid();
        using var store = new ResultsStore(path);
        await store.UpsertExperimentAsync(Definition(id), ExperimentStatus.Running, null, null, 0, null);

        // Make inserts of odd rounds fail inside the database, as a constraint or I/O error on one row would.
        using (var c = store.Open())
        using (var cmd = c.CreateCommand())
        {
            cmd.CommandText = "CREATE TRIGGER odd BEFORE INSERT ON rounds WHEN NEW.round % 2 = 1 BEGIN SELECT RAISE(ABORT, 'odd round refused'); END";
            cmd.ExecuteNonQuery();
        }

        var tasks = Enumerable.Range(0, 200).Select(r => store.InsertRoundAsync(Round(id, r))).ToList();
        for (var r = 0; r < tasks.Count; r++)
        {
            if (r % 2 == 1)
            {
                var ex = await Assert.ThrowsAsync<SqliteException>(() => tasks[r]);
                Assert.Contains("odd round refused", ex.Message, StringComparison.Ordinal);
            }
            else
            {
                Assert.True(await tasks[r]);
            }
        }

        var e = Assert.Single(store.Experiments("store"));
        Assert.Equal(Enumerable.Range(0, 100).Select(r => r * 2), e.Rounds.Select(r => r.Round).Order());
    }
}
