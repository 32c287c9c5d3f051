using System.Collections.Concurrent;

namespace BedBureau.BedGrain.Runtime;

/// <summary>A grain's activation may ask to be woken at a time (deadlines, no-shows).</summary>
public interface IGrain
{
    /// <summary>When the grain next has something due, or null.</summary>
    DateTimeOffset? NextWakeUp { get; }

    /// <summary>Runs as a turn of its own when <see cref="NextWakeUp"/> has come.</summary>
    Task WakeUpAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Lets go of state the grain can load again when a call needs it; true when it let go of
    /// any. Called between turns once the activation has not been called for
    /// <see cref="GrainRuntimeOptions.TrimAfter"/>; the activation stays.
    /// </summary>
    bool Trim() => false;
}

/// <summary>Thrown when a grain's mailbox is full: the caller should back off (RESOURCE_EXHAUSTED).</summary>
public sealed class GrainOverloadedException(string grain, int bound)
    : Exception($"Grain {grain} has {bound} calls waiting; try again later.");

/// <summary>
/// Thrown by a storage port when the stored version is not the one the activation loaded:
/// another activation committed first. The activation is dropped; a retry reloads.
/// </summary>
public class StorageConflictException(string message) : Exception(message);

/// <summary>
/// Thrown by a grain that finds, before its turn has changed anything, that its activation is
/// older than storage (a lazy read of state another activation has committed to since): the
/// runtime drops the activation and runs the turn again on a fresh one.
/// </summary>
public sealed class StaleActivationException(string message) : StorageConflictException(message);

/// <summary>What a grain runtime counts, whatever its grain type: for metrics.</summary>
public interface IGrainRuntimeStatistics
{
    /// <summary>Activations in memory.</summary>
    int ActivationCount { get; }

    /// <summary>Activations started (state loaded).</summary>
    long Activations { get; }

    /// <summary>Activations dropped: idle, stale after a storage conflict, or all at once.</summary>
    long Deactivations { get; }

    /// <summary>Idle activations that let go of state they can load again (<see cref="IGrain.Trim"/>).</summary>
    long Trims { get; }

    /// <summary>Calls refused because the grain's mailbox was full.</summary>
    long OverloadRejections { get; }

    /// <summary>Calls waiting behind a running turn: in all mailboxes, and in the fullest one.</summary>
    (long Total, int Deepest) MailboxDepth();
}

public sealed record GrainRuntimeOptions
{
    /// <summary>Calls waiting for one grain beyond which new calls fail fast.</summary>
    public int MailboxBound { get; init; } = 1000;

    /// <summary>An activation not called for this long is deactivated.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>An activation not called for this long is trimmed (<see cref="IGrain.Trim"/>) and stays; null: never.</summary>
    public TimeSpan? TrimAfter { get; init; }

    /// <summary>A wake-up that failed (storage down, a stale activation) is tried again after this.</summary>
    public TimeSpan WakeUpRetryAfter { get; init; } = TimeSpan.FromMinutes(1);
}

/// <summary>
/// Orleans' semantics in small: grains addressed by key, activated on first call, exactly one
/// activation per key in the process, one call at a time per grain (turn-based, not reentrant,
/// also across the call's awaits), bounded mailboxes, idle deactivation (and trimming before it),
/// wake-ups by <see cref="TimeProvider"/>.
/// </summary>
public sealed class GrainRuntime<TKey, TGrain> : IGrainRuntimeStatistics, IAsyncDisposable
    where TKey : notnull
    where TGrain : class, IGrain
{
    /// <summary>Runs of one call at most when its activations keep turning out stale.</summary>
    public const int StaleRuns = 3;

    private readonly ConcurrentDictionary<TKey, Activation> _activations = new();
    private readonly Func<TKey, CancellationToken, Task<TGrain>> _activate;
    private readonly GrainRuntimeOptions _options;
    private readonly TimeProvider _time;
    private readonly ITimer _idleSweep;

    // The idle time after which the sweep first does something to an activation: trim or deactivate.
    private readonly TimeSpan _firstIdleStep;
    private readonly CancellationTokenSource _disposed = new();
    private readonly Dictionary<TKey, Reminder> _reminders = [];

    /// <param name="activate">Loads a grain's state through its storage port and builds it.</param>
    public GrainRuntime(Func<TKey, CancellationToken, Task<TGrain>> activate, GrainRuntimeOptions options, TimeProvider time)
    {
        _activate = activate;
        _options = options;
        _time = time;
        _firstIdleStep = options.TrimAfter is { } trim && trim < options.IdleTimeout ? trim : options.IdleTimeout;
        var sweep = _firstIdleStep / 2;
        _idleSweep = time.CreateTimer(_ => _ = SweepIdleAsync(), null, sweep, sweep);
    }

    public int ActivationCount => _activations.Count;

    public long Activations => Interlocked.Read(ref _activationsStarted);

    public long OverloadRejections => Interlocked.Read(ref _overloadRejections);

    public long Deactivations => Interlocked.Read(ref _deactivations);

    public long Trims => Interlocked.Read(ref _trims);

    private long _activationsStarted;
    private long _trims;
    private long _overloadRejections;
    private long _deactivations;

    /// <summary>A walk over the activations; the fullest compares with <see cref="GrainRuntimeOptions.MailboxBound"/>.</summary>
    public (long Total, int Deepest) MailboxDepth()
    {
        long total = 0;
        var deepest = 0;
        foreach (var activation in _activations.Values)
        {
            // Waiting counts the call holding the turn too.
            var queued = Volatile.Read(ref activation.Waiting) - 1;
            if (queued > 0)
            {
                total += queued;
                deepest = Math.Max(deepest, queued);
            }
        }

        return (total, deepest);
    }

    /// <summary>
    /// Runs <paramref name="call"/> as one turn of the grain with key <paramref name="key"/>; again
    /// on a fresh activation if the turn found its activation stale before changing anything (at
    /// most <see cref="StaleRuns"/> runs: past that, another node keeps committing and the caller
    /// gets the conflict).
    /// </summary>
    public async Task<TResult> CallAsync<TArg, TResult>(TKey key, TArg argument, Func<TGrain, TArg, Task<TResult>> call, CancellationToken cancellationToken = default)
    {
        var runs = 0;
        while (true)
        {
            var activation = _activations.GetOrAdd(key, static (k, runtime) => new Activation(k, runtime), this);
            if (Interlocked.Increment(ref activation.Waiting) > _options.MailboxBound)
            {
                Interlocked.Decrement(ref activation.Waiting);
                Interlocked.Increment(ref _overloadRejections);
                throw new GrainOverloadedException(key.ToString()!, _options.MailboxBound);
            }

            try
            {
                await activation.Turn.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                Interlocked.Decrement(ref activation.Waiting);
                throw;
            }

            try
            {
                if (activation.Deactivated)
                {
                    // Lost a race with deactivation: take the next activation.
                    continue;
                }

                var grain = activation.Grain ??= await ActivateAsync(key, cancellationToken).ConfigureAwait(false);
                activation.LastUsed = _time.GetTimestamp();
                var succeeded = false;
                try
                {
                    var result = await call(grain, argument).ConfigureAwait(false);
                    succeeded = true;
                    return result;
                }
                catch (StaleActivationException) when (++runs < StaleRuns)
                {
                    Deactivate(activation);
                    continue;
                }
                catch (StorageConflictException)
                {
                    // Our state is stale: another activation (maybe on another node) committed.
                    Deactivate(activation);
                    throw;
                }
                finally
                {
                    // After a failed turn a due time already past is left to the failed wake-up's
                    // retry: arming it again would retry at once, in a loop while storage is down.
                    if (!activation.Deactivated && (succeeded || !(grain.NextWakeUp <= _time.GetUtcNow())))
                    {
                        ArmWakeUp(key, grain);
                    }
                }
            }
            finally
            {
                Interlocked.Decrement(ref activation.Waiting);
                activation.Turn.Release();
            }
        }
    }

    /// <summary>Drops every activation (as after a restart); the next call reactivates from storage.</summary>
    public async Task DeactivateAllAsync()
    {
        foreach (var activation in _activations.Values)
        {
            await activation.Turn.WaitAsync().ConfigureAwait(false);
            try
            {
                Deactivate(activation);
            }
            finally
            {
                activation.Turn.Release();
            }
        }
    }

    /// <summary>
    /// Replaces the grain of the activation of <paramref name="key"/>, if there is one and
    /// <paramref name="stale"/> says so of it, by what <paramref name="replace"/> makes of it
    /// (another node committed a newer version: the grain brought up to date), in a turn of its
    /// own. Should that fail, the activation is dropped and the next call reactivates from storage.
    /// </summary>
    public async Task ReplaceIfAsync(TKey key, Func<TGrain, bool> stale, Func<TGrain, CancellationToken, Task<TGrain>> replace, CancellationToken cancellationToken)
    {
        if (!_activations.TryGetValue(key, out var activation))
        {
            return;
        }

        await activation.Turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (activation.Deactivated || activation.Grain is not { } grain || !stale(grain))
            {
                return;
            }

            try
            {
                activation.Grain = await replace(grain, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                Deactivate(activation);
                throw;
            }

            Interlocked.Increment(ref _activationsStarted);
            ArmWakeUp(key, activation.Grain);
        }
        finally
        {
            activation.Turn.Release();
        }
    }

    private async Task<TGrain> ActivateAsync(TKey key, CancellationToken cancellationToken)
    {
        var grain = await _activate(key, cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _activationsStarted);
        return grain;
    }

    /// <summary>
    /// Wakes the grain of <paramref name="key"/> at <paramref name="at"/> (null: never), active or
    /// not: like an Orleans reminder, it outlives the activation and reactivates the grain.
    /// </summary>
    public void RemindAt(TKey key, DateTimeOffset? at)
    {
        lock (_reminders)
        {
            if (_reminders.TryGetValue(key, out var existing))
            {
                if (existing.At == at)
                {
                    return;
                }

                existing.Timer.Dispose();
                _reminders.Remove(key);
            }

            if (at is not { } due || _disposed.IsCancellationRequested)
            {
                return;
            }

            // Timers take at most 2^32 - 2 ms (~49.7 days) and the calendar reaches 90 days ahead:
            // a later wake-up's timer fires early and is armed again for the rest of the wait.
            var delay = due - _time.GetUtcNow();
            if (delay > MaxReminderDelay)
            {
                delay = MaxReminderDelay;
            }

            var reminder = new Reminder(key, due, this);

            // Off the timer's thread: a due timer may fire inside CreateTimer, under this lock.
            reminder.Timer = _time.CreateTimer(
                static state => _ = Task.Run(() => ((Reminder)state!).Runtime.WakeUpAsync((Reminder)state!)),
                reminder,
                delay < TimeSpan.Zero ? TimeSpan.Zero : delay,
                Timeout.InfiniteTimeSpan);
            _reminders[key] = reminder;
        }
    }

    private static readonly TimeSpan MaxReminderDelay = TimeSpan.FromDays(1);

    private void ArmWakeUp(TKey key, TGrain grain)
    {
        var due = grain.NextWakeUp;
        lock (_reminders)
        {
            if (_reminders.TryGetValue(key, out var existing) ? existing.At == due : due is null)
            {
                return;
            }
        }

        RemindAt(key, due);
    }

    private async Task WakeUpAsync(Reminder reminder)
    {
        lock (_reminders)
        {
            if (!_reminders.TryGetValue(reminder.Key, out var current) || !ReferenceEquals(current, reminder))
            {
                return; // superseded by a later RemindAt
            }

            _reminders.Remove(reminder.Key);
            reminder.Timer.Dispose();
            if (reminder.At > _time.GetUtcNow())
            {
                // Fired early, at the longest a timer waits: waits on without activating the grain.
                RemindAt(reminder.Key, reminder.At);
                return;
            }
        }

        try
        {
            await CallAsync(reminder.Key, 0, static (grain, _) => WakeUp(grain), _disposed.Token).ConfigureAwait(false);
        }
        catch (Exception) when (!_disposed.IsCancellationRequested)
        {
            // Again after a pause, not at once (grains also check what is due at the start of
            // each turn).
            RemindAt(reminder.Key, _time.GetUtcNow() + _options.WakeUpRetryAfter);
        }
        catch (Exception)
        {
        }
    }

    private static async Task<int> WakeUp(TGrain grain)
    {
        await grain.WakeUpAsync(CancellationToken.None).ConfigureAwait(false);
        return 0;
    }

    private async Task SweepIdleAsync()
    {
        var now = _time.GetTimestamp();
        foreach (var activation in _activations.Values)
        {
            var idle = _time.GetElapsedTime(activation.LastUsed, now);
            if (idle < _firstIdleStep || Volatile.Read(ref activation.Waiting) > 0)
            {
                continue;
            }

            if (!await activation.Turn.WaitAsync(0).ConfigureAwait(false))
            {
                continue;
            }

            try
            {
                if (Volatile.Read(ref activation.Waiting) > 0 || activation.Deactivated)
                {
                    continue;
                }

                if (idle >= _options.IdleTimeout)
                {
                    Deactivate(activation);
                }
                else if (activation.Grain?.Trim() == true)
                {
                    Interlocked.Increment(ref _trims);
                }
            }
            finally
            {
                activation.Turn.Release();
            }
        }
    }

    /// <summary>Called holding the activation's turn.</summary>
    private void Deactivate(Activation activation)
    {
        activation.Deactivated = true;
        if (_activations.TryRemove(new KeyValuePair<TKey, Activation>(activation.Key, activation)))
        {
            Interlocked.Increment(ref _deactivations);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _disposed.CancelAsync().ConfigureAwait(false);
        await _idleSweep.DisposeAsync().ConfigureAwait(false);
        lock (_reminders)
        {
            foreach (var reminder in _reminders.Values)
            {
                reminder.Timer.Dispose();
            }

            _reminders.Clear();
        }

        _disposed.Dispose();
    }

    private sealed class Activation(TKey key, GrainRuntime<TKey, TGrain> runtime)
    {
        public readonly TKey Key = key;
        public readonly GrainRuntime<TKey, TGrain> Runtime = runtime;
        public readonly SemaphoreSlim Turn = new(1, 1);
        public int Waiting;
        public TGrain? Grain;
        public long LastUsed;
        public bool Deactivated;
    }

    private sealed class Reminder(TKey key, DateTimeOffset at, GrainRuntime<TKey, TGrain> runtime)
    {
        public readonly TKey Key = key;
        public readonly DateTimeOffset At = at;
        public readonly GrainRuntime<TKey, TGrain> Runtime = runtime;
        public ITimer Timer = null!;
    }
}
