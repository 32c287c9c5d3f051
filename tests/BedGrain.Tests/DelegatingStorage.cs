using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Storage;

namespace BedBureau.BedGrain.Tests;

/// <summary>A storage that passes every call on to <paramref name="inner"/>: a test overrides the call it watches or breaks.</summary>
public class DelegatingStorage(IBedGrainStorage inner) : IBedGrainStorage
{
    public virtual Task<BedGrainSnapshot?> LoadAsync(BedGrainKey key, DateTimeOffset requestsSince, CancellationToken cancellationToken) =>
        inner.LoadAsync(key, requestsSince, cancellationToken);

    public virtual Task<BedGrainReferrals> LoadReferralsAsync(BedGrainKey key, long version, CancellationToken cancellationToken) =>
        inner.LoadReferralsAsync(key, version, cancellationToken);

    public virtual Task<BedGrainReferrals> LoadReferralChangesAsync(BedGrainKey key, long version, long eventSequence, CancellationToken cancellationToken) =>
        inner.LoadReferralChangesAsync(key, version, eventSequence, cancellationToken);

    public virtual Task<BedGrainReferrals> LoadDueReferralsAsync(BedGrainKey key, long version, DateOnly plannedBy, CancellationToken cancellationToken) =>
        inner.LoadDueReferralsAsync(key, version, plannedBy, cancellationToken);

    public virtual Task CommitAsync(BedGrainKey key, long expectedVersion, BedGrainChange change, CancellationToken cancellationToken) =>
        inner.CommitAsync(key, expectedVersion, change, cancellationToken);

    public virtual IAsyncEnumerable<BedGrainSummary> ReadSummariesAsync(DateOnly fromDate, CancellationToken cancellationToken) =>
        inner.ReadSummariesAsync(fromDate, cancellationToken);
}
