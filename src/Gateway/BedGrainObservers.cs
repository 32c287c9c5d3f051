using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Storage;

namespace BedBureau.Gateway;

/// <summary>The gateway's observers of grain commits, in order: the cache first, so nothing stale outlives a watcher's wake-up.</summary>
internal sealed class BedGrainObservers(ReferralEventHub events, Cache.LookupCache cache) : IBedGrainObserver
{
    public void OnCommitted(BedGrainKey key, BedGrainChange change)
    {
        cache.OnCommitted(key, change);
        events.OnCommitted(key, change);
    }
}
