using System.Diagnostics;
using StackExchange.Redis;

namespace BedBureau.Gateway.Cache;

/// <summary>
/// Redis through StackExchange.Redis 1.2.6, async calls only (its blocking calls starve the
/// thread pool). Each call is cut off after <see cref="CacheOptions.RedisTimeout"/>; after
/// <see cref="CacheOptions.BreakerFailures"/> failures in a row the breaker keeps Redis out for
/// <see cref="CacheOptions.BreakerOpenFor"/>, then lets calls try again. The multiplexer
/// reconnects by itself, so a Redis that comes back is used again without a restart.
/// </summary>
internal sealed partial class RedisCacheStore : ICacheStore
{
    private static readonly Task<byte[]?> Miss = Task.FromResult<byte[]?>(null);
    private static readonly Task<bool> NotDeleted = Task.FromResult(false);

    private readonly ConnectionMultiplexer _redis;
    private readonly IDatabase _database;
    private readonly CacheOptions _options;
    private readonly ILogger _logger;
    private int _failures;
    private long _openUntil;
    private long _errors;

    private RedisCacheStore(ConnectionMultiplexer redis, CacheOptions options, ILogger logger)
    {
        _redis = redis;
        _database = redis.GetDatabase();
        _options = options;
        _logger = logger;
    }

    public bool IsRemote => true;

    /// <summary>Calls that failed or timed out (each a lookup served by the grains instead).</summary>
    public long Errors => Interlocked.Read(ref _errors);

    /// <summary>True while the breaker lets calls through.</summary>
    public bool Available => Stopwatch.GetTimestamp() >= Volatile.Read(ref _openUntil) && _redis.IsConnected;

    /// <summary>Connects without waiting for Redis to be up: a Redis down at start-up is used once it answers.</summary>
    public static async Task<RedisCacheStore> ConnectAsync(CacheOptions options, ILogger logger)
    {
        var configuration = ConfigurationOptions.Parse(options.Redis!);
        configuration.AbortOnConnectFail = false;
        configuration.ConnectTimeout = Math.Max(configuration.ConnectTimeout == 5000 ? 1000 : configuration.ConnectTimeout, 100);
        configuration.ConnectRetry = 1;
        configuration.KeepAlive = 1;
        var redis = await ConnectionMultiplexer.ConnectAsync(configuration).ConfigureAwait(false);

        // Completions need no order among themselves (each lookup checks its own stripe; commands
        // keep their order on the wire): by default 1.2.6 runs every completion through one queue.
        redis.PreserveAsyncOrder = false;
        return new RedisCacheStore(redis, options, logger);
    }

    public Task<byte[]?> GetAsync(string key)
    {
        if (!Available)
        {
            return Miss;
        }

        return Completed(Issue(() => _database.StringGetAsync(key)));

        async Task<byte[]?> Completed(Task<RedisValue> call)
        {
            var (ok, value) = await GuardAsync(call).ConfigureAwait(false);
            return ok && !value.IsNull ? (byte[]?)value : null;
        }
    }

    public void Set(string key, byte[] value, TimeSpan ttl)
    {
        if (Available)
        {
            _ = GuardAsync(Issue(() => _database.StringSetAsync(key, value, ttl)));
        }
    }

    public Task<bool> DeleteAsync(string key)
    {
        if (!Available)
        {
            return NotDeleted;
        }

        return Completed(Issue(() => _database.KeyDeleteAsync(key)));

        async Task<bool> Completed(Task<bool> call) => (await GuardAsync(call).ConfigureAwait(false)).Ok;
    }

    /// <summary>The call as a task, also when issuing it throws (a disposed or broken multiplexer).</summary>
    private static Task<T> Issue<T>(Func<Task<T>> call)
    {
        try
        {
            return call();
        }
        catch (Exception ex) when (ex is RedisException or ObjectDisposedException or InvalidOperationException)
        {
            return Task.FromException<T>(ex);
        }
    }

    /// <summary>The call's result; not ok when it failed or timed out (counted against the breaker).</summary>
    private async Task<(bool Ok, T Value)> GuardAsync<T>(Task<T> call)
    {
        try
        {
            var result = await call.WaitAsync(_options.RedisTimeout).ConfigureAwait(false);
            if (Interlocked.Exchange(ref _failures, 0) >= _options.BreakerFailures)
            {
                LogRecovered(_logger);
            }

            return (true, result);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException or InvalidOperationException)
        {
            // The abandoned call may still fault later: observe it so it is not reported as unobserved.
            _ = call.ContinueWith(static t => t.Exception, TaskScheduler.Default);
            Interlocked.Increment(ref _errors);
            if (Interlocked.Increment(ref _failures) >= _options.BreakerFailures)
            {
                var until = Stopwatch.GetTimestamp() + (long)(_options.BreakerOpenFor.TotalSeconds * Stopwatch.Frequency);
                if (Interlocked.Exchange(ref _openUntil, until) < Stopwatch.GetTimestamp())
                {
                    LogBreakerOpened(_logger, _options.BreakerOpenFor.TotalSeconds, ex.Message);
                }
            }

            return (false, default!);
        }
    }

    public async ValueTask DisposeAsync() => await _redis.CloseAsync(allowCommandsToComplete: false).ConfigureAwait(false);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis unreachable or slow: lookups go to the grains for {Seconds} s ({Reason})")]
    private static partial void LogBreakerOpened(ILogger logger, double seconds, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Redis answers again; the cache is in use")]
    private static partial void LogRecovered(ILogger logger);
}
