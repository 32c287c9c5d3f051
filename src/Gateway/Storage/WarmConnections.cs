using System.Collections.Concurrent;
using System.Data.Common;

namespace BedBureau.Gateway.Storage;

/// <summary>
/// Connections a batch loop takes and gives back, so that on PostgreSQL its batches keep
/// landing on the same few backends. The pool hands out its idle connections in turn, and a
/// backend that has not served a batch for a while pays again for its catalog caches, its
/// plans and its first touch of shared buffers (measured: more server CPU per registration than
/// the statements themselves). SQLite's connections are in-process and cheap to open: they go
/// back to the pool.
/// </summary>
internal sealed class WarmConnections(Func<CancellationToken, ValueTask<DbConnection>> open, TimeProvider time) : IAsyncDisposable
{
    /// <summary>A connection idle this long goes back to the pool rather than serve the next batch.</summary>
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(30);

    private readonly ConcurrentStack<(DbConnection Connection, DateTimeOffset LastUsed)> _held = new();
    private volatile bool _disposed;

    public async ValueTask<DbConnection> TakeAsync(CancellationToken cancellationToken)
    {
        while (_held.TryPop(out var held))
        {
            if (time.GetUtcNow() - held.LastUsed < Idle && held.Connection.State == System.Data.ConnectionState.Open)
            {
                return held.Connection;
            }

            await held.Connection.DisposeAsync().ConfigureAwait(false);
        }

        return await open(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// After a batch that failed: its connection goes back to the pool (which drops it when
    /// broken), and so do the held ones. A server that restarted or dropped its backends did so
    /// for all of them, and each would otherwise fail one more batch once the server is back.
    /// </summary>
    public async ValueTask DiscardAsync(DbConnection connection)
    {
        await connection.DisposeAsync().ConfigureAwait(false);
        while (_held.TryPop(out var held))
        {
            await held.Connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>After a batch that succeeded.</summary>
    public ValueTask ReturnAsync(DbConnection connection)
    {
        if (connection is not Npgsql.NpgsqlConnection || _disposed)
        {
            return connection.DisposeAsync();
        }

        _held.Push((connection, time.GetUtcNow()));
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        while (_held.TryPop(out var held))
        {
            await held.Connection.DisposeAsync().ConfigureAwait(false);
        }
    }
}
