using System.Diagnostics.Metrics;

namespace BedBureau.Gateway.Cache;

/// <summary>The lookup cache's hits and misses, rejected entries and Redis errors, observed from its counters.</summary>
public sealed class CacheMetrics
{
    public const string MeterName = "BedBureau.Cache";

    public CacheMetrics(IMeterFactory meterFactory, LookupCache cache)
    {
        var meter = meterFactory.Create(MeterName);
        meter.CreateObservableCounter("bedbureau.cache.hits", () => cache.Hits, "{lookup}", "Lookups (queue status, free-bed search) answered from the cache.");
        meter.CreateObservableCounter("bedbureau.cache.misses", () => cache.Misses, "{lookup}", "Lookups that went to the grains.");
        meter.CreateObservableCounter("bedbureau.cache.rejected", () => cache.Poisoned, "{entry}", "Cached entries found but refused: corrupt, tampered with or of another key.");
        meter.CreateObservableCounter("bedbureau.cache.redis.errors", () => cache.RedisErrors, "{call}", "Redis calls that failed or timed out (the lookup went to the grains).");
        meter.CreateObservableGauge("bedbureau.cache.redis.available", () => Available(cache), "1",
            "1 while Redis is connected and its circuit breaker closed, 0 while lookups bypass it; absent without Redis.");
    }

    private static IEnumerable<Measurement<int>> Available(LookupCache cache) =>
        cache.RedisAvailable is { } available ? [new Measurement<int>(available ? 1 : 0)] : [];
}
