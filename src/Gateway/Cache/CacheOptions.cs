namespace BedBureau.Gateway.Cache;

/// <summary>The lookup cache's settings (section <c>Cache</c>; Redis from <c>ConnectionStrings:Redis</c>).</summary>
public sealed record CacheOptions
{
    /// <summary>StackExchange.Redis configuration string; empty for the in-process cache.</summary>
    public string? Redis { get; init; }

    /// <summary>First part of every key; the schema version ("v1") follows it.</summary>
    public string Namespace { get; init; } = "bb";

    /// <summary>The longest a cached queue position (of an active referral) is served: others ahead may move.</summary>
    public TimeSpan PositionMaxAge { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a finished referral's status is kept (it no longer changes).</summary>
    public TimeSpan TerminalTtl { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>The longest a free-bed search result is served (any change of the profile drops it at once).</summary>
    public TimeSpan SearchTtl { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Each Redis call gives up after this and the lookup goes to the grains.</summary>
    public TimeSpan RedisTimeout { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Consecutive Redis failures that open the circuit breaker.</summary>
    public int BreakerFailures { get; init; } = 3;

    /// <summary>How long an open breaker keeps Redis out before one call tries it again.</summary>
    public TimeSpan BreakerOpenFor { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Entries the in-process cache holds at most.</summary>
    public long InProcessEntries { get; init; } = 200_000;

    /// <summary>With Redis: patients' statuses also kept in this process, at most this many (0: none).</summary>
    public long NearEntries { get; init; } = 20_000;

    public static CacheOptions From(IConfiguration configuration)
    {
        var section = configuration.GetSection("Cache");
        return new CacheOptions
        {
            Redis = configuration.GetConnectionString("Redis"),
            Namespace = section.GetValue("Namespace", "bb")!,
            PositionMaxAge = TimeSpan.FromSeconds(section.GetValue("PositionMaxAgeSeconds", 2.0)),
            TerminalTtl = TimeSpan.FromSeconds(section.GetValue("TerminalTtlSeconds", 600.0)),
            SearchTtl = TimeSpan.FromSeconds(section.GetValue("SearchTtlSeconds", 5.0)),
            RedisTimeout = TimeSpan.FromMilliseconds(section.GetValue("RedisTimeoutMilliseconds", 100.0)),
            BreakerFailures = section.GetValue("BreakerFailures", 3),
            BreakerOpenFor = TimeSpan.FromSeconds(section.GetValue("BreakerOpenSeconds", 1.0)),
            InProcessEntries = section.GetValue("InProcessEntries", 200_000L),
            NearEntries = section.GetValue("NearEntries", 20_000L),
        };
    }
}
