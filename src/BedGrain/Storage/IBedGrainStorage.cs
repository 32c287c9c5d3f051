using BedBureau.BedGrain.Domain;

namespace BedBureau.BedGrain.Storage;

/// <summary>One date of the admission calendar as stored: its slots.</summary>
public readonly record struct CalendarSlots(DateOnly Date, int Slots);

/// <summary>
/// A grain's state as loaded on activation: everything but its referrals, which come on the
/// grain's first referral operation (<see cref="IBedGrainStorage.LoadReferralsAsync"/>). A bed
/// report or a calendar change after a restart then costs a few rows, not the whole queue.
/// </summary>
/// <param name="ActiveByDate">Active referrals per planned date: the slots they hold.</param>
/// <param name="Idempotency">The remembered requests but registrations (a hospital never registers, so its retries are all here).</param>
public sealed record BedGrainSnapshot(
    long Version,
    BedCensus? Census,
    IReadOnlyList<CalendarSlots> Calendar,
    IReadOnlyDictionary<DateOnly, int> ActiveByDate,
    IReadOnlyList<IdempotencyRecord> Idempotency,
    long NextCodeSequence,
    long NextEventSequence);

/// <summary>A grain's referrals and its registration requests (fenced ones included).</summary>
public sealed record BedGrainReferrals(IReadOnlyList<Referral> Referrals, IReadOnlyList<IdempotencyRecord> Registrations);

/// <summary>
/// One committed change of a grain, as a delta: durable adapters write only what changed (the
/// referrals touched, the calendar dates set, the census, the events appended), not the grain.
/// </summary>
public sealed record BedGrainChange(
    long Version,
    BedCensus? Census,
    IReadOnlyList<CalendarSlots> Calendar,
    IReadOnlyList<Referral> Referrals,
    IReadOnlyList<ReferralEvent> Events,
    IdempotencyRecord? Idempotency,
    long NextCodeSequence,
    long NextEventSequence,
    string ActorOrganizationId);

/// <summary>What the free-bed search and the patient rule need of a grain, without activating it.</summary>
public sealed record BedGrainSummary(
    BedGrainKey Key,
    BedCensus? Census,
    IReadOnlyList<AdmissionDay> Calendar,
    int QueueLength,
    IReadOnlyList<PatientHold> ActiveHolds,
    DateOnly? EarliestPlannedDate);

/// <summary>A patient's active referral for a profile (one patient, one active referral per profile).</summary>
public sealed record PatientHold(string PatientKey, string ProfileCode, string HospitalizationCode, string ReferringOrganizationId);

/// <summary>
/// The grains' storage port. Commits are compare-and-set on the version: the stored version
/// must be <paramref name="expectedVersion"/> or the commit throws
/// <see cref="Runtime.StorageConflictException"/> and writes nothing.
/// </summary>
public interface IBedGrainStorage
{
    /// <param name="requestsSince">The grain remembers requests but registrations from then on: older ones are left out.</param>
    Task<BedGrainSnapshot?> LoadAsync(BedGrainKey key, DateTimeOffset requestsSince, CancellationToken cancellationToken);

    /// <summary>
    /// The referrals of a grain loaded at <paramref name="version"/>; throws
    /// <see cref="Runtime.StorageConflictException"/> when the stored version is another by then
    /// (the activation is stale and is dropped).
    /// </summary>
    Task<BedGrainReferrals> LoadReferralsAsync(BedGrainKey key, long version, CancellationToken cancellationToken);

    /// <summary>
    /// As <see cref="LoadReferralsAsync"/>, but only the referrals named by the grain's events
    /// after <paramref name="eventSequence"/>, each as stored now (the registrations all): what an
    /// activation that holds the earlier ones needs to catch up with another node's commits.
    /// </summary>
    Task<BedGrainReferrals> LoadReferralChangesAsync(BedGrainKey key, long version, long eventSequence, CancellationToken cancellationToken);

    /// <summary>
    /// As <see cref="LoadReferralsAsync"/>, but only the active referrals planned on or before
    /// <paramref name="plannedBy"/>, and no registrations: what a grain whose queue is not in memory
    /// needs to expire its no-shows, a few of a queue that may be thousands long.
    /// </summary>
    Task<BedGrainReferrals> LoadDueReferralsAsync(BedGrainKey key, long version, DateOnly plannedBy, CancellationToken cancellationToken);

    Task CommitAsync(BedGrainKey key, long expectedVersion, BedGrainChange change, CancellationToken cancellationToken);

    /// <summary>Every grain's summary, for rebuilding the search index and patient rule at start-up.</summary>
    IAsyncEnumerable<BedGrainSummary> ReadSummariesAsync(DateOnly fromDate, CancellationToken cancellationToken);
}
