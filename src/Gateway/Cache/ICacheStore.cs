using Microsoft.Extensions.Caching.Memory;

namespace BedBureau.Gateway.Cache;

/// <summary>
/// Where cached bytes live. Every call is issued to the store before it returns (so two calls
/// made in order reach the store in that order); a failed or timed-out call is a miss, never
/// an error for the caller.
/// </summary>
internal interface ICacheStore : IAsyncDisposable
{
    /// <summary>False for the in-process store, whose deletes cannot fail.</summary>
    bool IsRemote { get; }

    Task<byte[]?> GetAsync(string key);

    void Set(string key, byte[] value, TimeSpan ttl);

    /// <summary>True once the entry is gone; false when the store could not be reached.</summary>
    Task<bool> DeleteAsync(string key);
}

/// <summary>The cache when no Redis is configured: bounded, in this process.</summary>
internal sealed class InProcessCacheStore(long entries) : ICacheStore
{
    private static readonly Task<bool> Deleted = Task.FromResult(true);
    private readonly MemoryCache _cache = new(new MemoryCacheOptions { SizeLimit = entries, CompactionPercentage = 0.2 });

    public bool IsRemote => false;

    public Task<byte[]?> GetAsync(string key) => Task.FromResult(_cache.TryGetValue(key, out byte[]? value) ? value : null);

    public void Set(string key, byte[] value, TimeSpan ttl) =>
        _cache.Set(key, value, new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = ttl });

    public Task<bool> DeleteAsync(string key)
    {
        _cache.Remove(key);
        return Deleted;
    }

    public ValueTask DisposeAsync()
    {
        _cache.Dispose();
        return ValueTask.CompletedTask;
    }
}
