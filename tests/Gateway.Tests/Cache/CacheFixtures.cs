using System.Diagnostics;
using BedBureau.Contract.V1;
using BedBureau.Gateway.Cache;
using BedBureau.Gateway.Tests.EndToEnd;

namespace BedBureau.Gateway.Tests.Cache;

/// <summary>
/// The gateway on the shared test Redis, under a key namespace of its own; without the near
/// cache, so that every lookup's entry comes from Redis.
/// </summary>
public class SharedRedisGatewayFixture : GatewayFixture
{
    public string Namespace { get; } = $"bbtest{Guid.NewGuid():N}";

    protected virtual long NearEntries => 0;

    protected override Task<IEnumerable<string>> SettingsAsync() =>
        Task.FromResult<IEnumerable<string>>([$"--ConnectionStrings:Redis={RedisServer.Shared}", $"--Cache:Namespace={Namespace}", $"--Cache:NearEntries={NearEntries}"]);

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await CacheWarmUp.UntilHitAsync(this);
    }
}

/// <summary>
/// Searches until one is served from the cache: the first calls to a fresh process may
/// time out on Redis (connection, JIT) and open the breaker for a moment.
/// </summary>
internal static class CacheWarmUp
{
    public static async Task UntilHitAsync(GatewayFixture gateway)
    {
        var cache = gateway.Service<LookupCache>();
        using var polyclinic = gateway.ChannelFor(gateway.Polyclinic());
        var hospital = await gateway.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = gateway.Hospital().organization_id });
        var search = new SearchFreeBedsRequest { BedProfileCode = hospital.Hospital.BedProfileCodes[0] };
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var hits = cache.Hits;
            await polyclinic.UnaryAsync(Api.Search, search);
            await polyclinic.UnaryAsync(Api.Search, search);
            if (cache.Hits > hits)
            {
                return;
            }

            if (waited.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException("The gateway's cache served no hit within 30 s.");
            }

            await Task.Delay(50);
        }
    }
}

/// <summary>The gateway on the shared test Redis with its near cache, as deployed.</summary>
public sealed class NearCacheGatewayFixture : SharedRedisGatewayFixture
{
    protected override long NearEntries => 1_000;
}

/// <summary>The gateway on a Redis of its own (no near cache), which the tests kill, pause and restart.</summary>
public sealed class OwnRedisGatewayFixture : GatewayFixture
{
    public RedisServer Redis { get; } = new();

    protected override async Task<IEnumerable<string>> SettingsAsync()
    {
        await Redis.StartAsync();

        // Entries outlive a pause of the server, so that a stale one would be there to be (wrongly) served.
        return [$"--ConnectionStrings:Redis={Redis.Configuration}", "--Cache:PositionMaxAgeSeconds=600", "--Cache:BreakerOpenSeconds=0.2", "--Cache:NearEntries=0"];
    }

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await CacheWarmUp.UntilHitAsync(this);
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Redis.DisposeAsync();
    }
}

/// <summary>The gateway without Redis: the in-process cache.</summary>
public sealed class InProcessCacheGatewayFixture : GatewayFixture
{
    public LookupCache Cache => Service<LookupCache>();
}
