using System.Threading.Channels;

namespace BedBureau.Gateway.Storage;

/// <summary>Thrown when the database cannot be reached or a batch failed: the gateway answers UNAVAILABLE.</summary>
public sealed class StorageUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Group commit: concurrent writes are queued and committed by a few writer loops, each taking
/// everything queued (up to a limit) into one transaction, so one fsync acknowledges many
/// callers. A caller's task completes only after its batch committed; a failed batch fails
/// exactly its callers.
/// </summary>
/// <typeparam name="TWrite">One caller's write.</typeparam>
/// <typeparam name="TResult">What the batch function says of each write (e.g. committed or version conflict).</typeparam>
public sealed class GroupCommitter<TWrite, TResult> : IAsyncDisposable
{
    private readonly Channel<Pending> _queue;
    private readonly Func<IReadOnlyList<TWrite>, CancellationToken, Task<TResult[]>> _commitBatch;
    private readonly int _maxBatchSize;
    private readonly Task[] _writers;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Action<int, TimeSpan, bool>? _onBatch;

    /// <param name="commitBatch">Commits the writes in one transaction; returns one result per write in order, or throws to fail them all.</param>
    /// <param name="onBatch">Told each batch's size, duration and success (metrics).</param>
    public GroupCommitter(
        Func<IReadOnlyList<TWrite>, CancellationToken, Task<TResult[]>> commitBatch,
        int maxBatchSize,
        int writers,
        int queueCapacity,
        Action<int, TimeSpan, bool>? onBatch = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(writers, 1);
        _commitBatch = commitBatch;
        _maxBatchSize = maxBatchSize;
        _onBatch = onBatch;
        _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(queueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleWriter = false,
            SingleReader = writers == 1,
        });
        _writers = Enumerable.Range(0, writers).Select(_ => Task.Run(WriteLoopAsync)).ToArray();
    }

    /// <summary>Queues a write and completes when its batch has committed.</summary>
    public async Task<TResult> CommitAsync(TWrite write, CancellationToken cancellationToken)
    {
        var pending = new Pending(write);
        await _queue.Writer.WriteAsync(pending, cancellationToken).ConfigureAwait(false);

        // Once queued, the write may commit: the caller must learn its real outcome, so the
        // wait is not cancelled by the caller's token (a deadline gives UNAVAILABLE upstream).
        return await pending.Completion.Task.ConfigureAwait(false);
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<Pending>(_maxBatchSize);
        var writes = new List<TWrite>(_maxBatchSize);
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            writes.Clear();
            while (batch.Count < _maxBatchSize && reader.TryRead(out var pending))
            {
                batch.Add(pending);
                writes.Add(pending.Write);
            }

            if (batch.Count == 0)
            {
                continue;
            }

            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            try
            {
                var results = await _commitBatch(writes, _stopping.Token).ConfigureAwait(false);
                _onBatch?.Invoke(batch.Count, System.Diagnostics.Stopwatch.GetElapsedTime(started), true);
                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].Completion.TrySetResult(results[i]);
                }
            }
            catch (Exception ex)
            {
                _onBatch?.Invoke(batch.Count, System.Diagnostics.Stopwatch.GetElapsedTime(started), false);
                var failure = ex as StorageUnavailableException ?? new StorageUnavailableException("The database did not commit the write.", ex);
                foreach (var pending in batch)
                {
                    pending.Completion.TrySetException(failure);
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await Task.WhenAll(_writers).ConfigureAwait(false);
        _stopping.Dispose();
    }

    private sealed class Pending(TWrite write)
    {
        public TWrite Write { get; } = write;

        public TaskCompletionSource<TResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
