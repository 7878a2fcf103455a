using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;

namespace Horizon.Grains;

/// <summary>
/// One writer thread for the store. Writes queued while a commit is in progress are committed together in the next
/// transaction (group commit), each inside its own savepoint so one failing write never takes the others with it.
/// A caller's task completes only after the transaction holding its write has committed: "recorded" still means
/// durable, but thousands of rounds per second share one fsync instead of paying one each.
/// </summary>
internal sealed class GroupCommitWriter : IDisposable
{
    private const int MaxBatch = 2048;
    private readonly BlockingCollection<IWrite> queue = new();
    private readonly SqliteConnection connection;
    private readonly Thread thread;

    public GroupCommitWriter(SqliteConnection connection)
    {
        this.connection = connection;
        thread = new Thread(Loop) { IsBackground = true, Name = "horizon-store-writer" };
        thread.Start();
    }

    /// <summary>Writes committed per transaction, for the bench: (transactions, writes).</summary>
    public (long Transactions, long Writes) Counters => (Interlocked.Read(ref transactions), Interlocked.Read(ref writes));

    private long transactions;
    private long writes;

    public Task<T> Submit<T>(Func<SqliteConnection, SqliteTransaction, T> body)
    {
        var write = new Write<T>(body);
        try
        {
            queue.Add(write);
        }
        catch (InvalidOperationException)
        {
            throw new ObjectDisposedException(nameof(ResultsStore), "the results store is closed");
        }

        return write.Completion.Task;
    }

    public void Dispose()
    {
        queue.CompleteAdding();
        thread.Join(TimeSpan.FromSeconds(30));
        connection.Dispose();
    }

    private void Loop()
    {
        var batch = new List<IWrite>(MaxBatch);
        foreach (var first in queue.GetConsumingEnumerable())
        {
            batch.Add(first);
            while (batch.Count < MaxBatch && queue.TryTake(out var next))
            {
                batch.Add(next);
            }

            Commit(batch);
            batch.Clear();
        }
    }

    private void Commit(List<IWrite> batch)
    {
        var done = new List<Action>(batch.Count);
        try
        {
            using var tx = connection.BeginTransaction();
            foreach (var w in batch)
            {
                tx.Save("w");
                try
                {
                    done.Add(w.Run(connection, tx));
                    tx.Release("w");
                }
                catch (Exception e)
                {
                    tx.Rollback("w");
                    tx.Release("w");
                    var failed = w;
                    done.Add(() => failed.Fail(e));
                }
            }

            tx.Commit();
        }
        catch (Exception e)
        {
            // The transaction itself failed (disk full, I/O error): nothing in it is durable, every caller learns why.
            foreach (var w in batch)
            {
                w.Fail(e);
            }

            return;
        }

        Interlocked.Increment(ref transactions);
        Interlocked.Add(ref writes, batch.Count);
        foreach (var complete in done)
        {
            complete();
        }
    }

    private interface IWrite
    {
        /// <summary>Runs the write; returns how to complete its caller once the transaction has committed.</summary>
        Action Run(SqliteConnection c, SqliteTransaction tx);

        void Fail(Exception e);
    }

    private sealed class Write<T>(Func<SqliteConnection, SqliteTransaction, T> body) : IWrite
    {
        public TaskCompletionSource<T> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Action Run(SqliteConnection c, SqliteTransaction tx)
        {
            var value = body(c, tx);
            return () => Completion.TrySetResult(value);
        }

        public void Fail(Exception e) => Completion.TrySetException(e);
    }
}
