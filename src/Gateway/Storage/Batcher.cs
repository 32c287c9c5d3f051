using System.Threading.Channels;

namespace BedBureau.Gateway.Storage;

/// <summary>Thrown when the database cannot be reached or a batch failed: the gateway answers UNAVAILABLE.</summary>
public sealed class StorageUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Group commit, and group load: concurrent callers' items are queued and handled by a few
/// loops, each taking everything queued (up to a limit) into one batch, so one transaction and
/// fsync acknowledges many writes, or one round trip of set-based queries answers many reads.
/// A caller's task completes only after its batch is done; a failed batch fails exactly its
/// callers.
/// </summary>
/// <typeparam name="TItem">One caller's write or read.</typeparam>
/// <typeparam name="TResult">What the batch function says of each item (e.g. committed or version conflict).</typeparam>
public sealed class Batcher<TItem, TResult> : IAsyncDisposable
{
    private readonly Channel<Pending> _queue;
    private readonly Func<IReadOnlyList<TItem>, CancellationToken, Task<TResult[]>> _runBatch;
    private readonly int _maxBatchSize;
    private readonly Task[] _loops;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Action<int, TimeSpan, bool>? _onBatch;
    private readonly string _failure;

    /// <param name="runBatch">Handles the items in one batch (writes: one transaction); returns one result per item in order, or throws to fail them all.</param>
    /// <param name="failure">What callers of a failed batch are told (UNAVAILABLE upstream).</param>
    /// <param name="onBatch">Told each batch's size, duration and success (metrics).</param>
    public Batcher(
        Func<IReadOnlyList<TItem>, CancellationToken, Task<TResult[]>> runBatch,
        int maxBatchSize,
        int loops,
        int queueCapacity,
        string failure,
        Action<int, TimeSpan, bool>? onBatch = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(loops, 1);
        _runBatch = runBatch;
        _maxBatchSize = maxBatchSize;
        _onBatch = onBatch;
        _failure = failure;
        _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(queueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleWriter = false,
            SingleReader = loops == 1,
        });
        _loops = Enumerable.Range(0, loops).Select(_ => Task.Run(BatchLoopAsync)).ToArray();
    }

    /// <summary>Queues an item and completes when its batch is done.</summary>
    public async Task<TResult> SubmitAsync(TItem item, CancellationToken cancellationToken)
    {
        var pending = new Pending(item);
        await _queue.Writer.WriteAsync(pending, cancellationToken).ConfigureAwait(false);

        // Once queued, a write may commit: the caller must learn its real outcome, so the wait
        // is not cancelled by the caller's token (a deadline gives UNAVAILABLE upstream).
        return await pending.Completion.Task.ConfigureAwait(false);
    }

    private async Task BatchLoopAsync()
    {
        var batch = new List<Pending>(_maxBatchSize);
        var items = new List<TItem>(_maxBatchSize);
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            items.Clear();
            while (batch.Count < _maxBatchSize && reader.TryRead(out var pending))
            {
                batch.Add(pending);
                items.Add(pending.Item);
            }

            if (batch.Count == 0)
            {
                continue;
            }

            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            try
            {
                var results = await _runBatch(items, _stopping.Token).ConfigureAwait(false);
                _onBatch?.Invoke(batch.Count, System.Diagnostics.Stopwatch.GetElapsedTime(started), true);
                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].Completion.TrySetResult(results[i]);
                }
            }
            catch (Exception ex)
            {
                _onBatch?.Invoke(batch.Count, System.Diagnostics.Stopwatch.GetElapsedTime(started), false);
                var failure = ex as StorageUnavailableException ?? new StorageUnavailableException(_failure, ex);
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
        await Task.WhenAll(_loops).ConfigureAwait(false);
        _stopping.Dispose();
    }

    private sealed class Pending(TItem item)
    {
        public TItem Item { get; } = item;

        public TaskCompletionSource<TResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
