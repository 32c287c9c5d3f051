using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Runtime;

namespace BedBureau.BedGrain.Storage;

/// <summary>
/// The storage port in memory, for tests and benchmarks: applies the same deltas with the same
/// version checks as the durable adapters.
/// </summary>
public sealed class InMemoryBedGrainStorage : IBedGrainStorage
{
    private readonly ConcurrentDictionary<BedGrainKey, Stored> _grains = new();

    public int CommitCount => _commits;

    private int _commits;

    public Task<BedGrainSnapshot?> LoadAsync(BedGrainKey key, DateTimeOffset requestsSince, CancellationToken cancellationToken)
    {
        if (!_grains.TryGetValue(key, out var stored))
        {
            return Task.FromResult<BedGrainSnapshot?>(null);
        }

        lock (stored)
        {
            return Task.FromResult<BedGrainSnapshot?>(new BedGrainSnapshot(
                stored.Version, stored.Census,
                stored.Calendar.Select(d => new CalendarSlots(d.Key, d.Value)).ToArray(),
                stored.Referrals.Values.Where(r => r.Status.IsActive()).CountBy(r => r.PlannedDate).ToDictionary(),
                stored.Idempotency.Values.Where(r => !r.IsRegistration && r.CreatedAt >= requestsSince).ToArray(),
                stored.NextCodeSequence, stored.NextEventSequence));
        }
    }

    public Task<BedGrainReferrals> LoadReferralsAsync(BedGrainKey key, long version, CancellationToken cancellationToken) =>
        LoadReferrals(key, version, stored => stored.Referrals.Values);

    public Task<BedGrainReferrals> LoadReferralChangesAsync(BedGrainKey key, long version, long eventSequence, CancellationToken cancellationToken) =>
        LoadReferrals(key, version, stored => stored.Events.Where(e => e.Sequence > eventSequence).Select(e => e.HospitalizationCode).Distinct().Select(code => stored.Referrals[code]));

    public Task<BedGrainReferrals> LoadDueReferralsAsync(BedGrainKey key, long version, DateOnly plannedBy, CancellationToken cancellationToken) =>
        LoadReferrals(key, version, stored => stored.Referrals.Values.Where(r => r.Status.IsActive() && r.PlannedDate <= plannedBy), registrations: false);

    /// <summary>The referrals <paramref name="select"/> picks, with every registration, at <paramref name="version"/> or a conflict.</summary>
    private Task<BedGrainReferrals> LoadReferrals(BedGrainKey key, long version, Func<Stored, IEnumerable<Referral>> select, bool registrations = true)
    {
        var stored = _grains.GetValueOrDefault(key) ?? new Stored();
        lock (stored)
        {
            return stored.Version == version
                ? Task.FromResult(new BedGrainReferrals(select(stored).ToArray(), registrations ? stored.Idempotency.Values.Where(r => r.IsRegistration).ToArray() : []))
                : Task.FromException<BedGrainReferrals>(new StorageConflictException($"{key}: stored version {stored.Version}, loaded at {version}"));
        }
    }

    public Task CommitAsync(BedGrainKey key, long expectedVersion, BedGrainChange change, CancellationToken cancellationToken)
    {
        var stored = _grains.GetOrAdd(key, _ => new Stored());
        lock (stored)
        {
            if (stored.Version != expectedVersion)
            {
                throw new StorageConflictException($"{key}: stored version {stored.Version}, expected {expectedVersion}");
            }

            stored.Version = change.Version;
            stored.Census = change.Census ?? stored.Census;
            foreach (var day in change.Calendar)
            {
                stored.Calendar[day.Date] = day.Slots;
            }

            foreach (var referral in change.Referrals)
            {
                stored.Referrals[referral.HospitalizationCode] = referral;
            }

            stored.Events.AddRange(change.Events);
            if (change.Idempotency is { } record)
            {
                stored.Idempotency[record.Key] = record;
            }

            stored.NextCodeSequence = change.NextCodeSequence;
            stored.NextEventSequence = change.NextEventSequence;
        }

        Interlocked.Increment(ref _commits);
        return Task.CompletedTask;
    }

    public async IAsyncEnumerable<BedGrainSummary> ReadSummariesAsync(DateOnly fromDate, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var (key, stored) in _grains)
        {
            await Task.Yield();
            BedGrainSummary summary;
            lock (stored)
            {
                var active = stored.Referrals.Values.Where(r => r.Status.IsActive()).ToArray();
                var reserved = active.GroupBy(r => r.PlannedDate).ToDictionary(g => g.Key, g => g.Count());
                var days = stored.Calendar.Keys.Union(reserved.Keys).Where(d => d >= fromDate).Order()
                    .Select(d => new AdmissionDay(d, stored.Calendar.GetValueOrDefault(d), reserved.GetValueOrDefault(d))).ToArray();
                var holds = active.Select(r => new PatientHold(r.PatientKey, r.ProfileCode, r.HospitalizationCode, r.ReferringOrganizationId)).ToArray();
                summary = new BedGrainSummary(key, stored.Census, days, active.Length, holds, active.Length == 0 ? null : active.Min(r => r.PlannedDate));
            }

            yield return summary;
        }
    }

    /// <summary>Every event committed for a grain, in order (for tests).</summary>
    public IReadOnlyList<ReferralEvent> EventsOf(BedGrainKey key) =>
        _grains.TryGetValue(key, out var stored) ? [.. stored.Events] : [];

    /// <summary>A stored referral as the last commit left it (for tests).</summary>
    public Referral? StoredReferral(BedGrainKey key, string code) =>
        _grains.TryGetValue(key, out var stored) ? stored.Referrals.GetValueOrDefault(code) : null;

    private sealed class Stored
    {
        public long Version;
        public BedCensus? Census;
        public long NextCodeSequence = 1;
        public long NextEventSequence = 1;
        public readonly Dictionary<DateOnly, int> Calendar = [];
        public readonly Dictionary<string, Referral> Referrals = new(StringComparer.Ordinal);
        public readonly List<ReferralEvent> Events = [];
        public readonly Dictionary<string, IdempotencyRecord> Idempotency = new(StringComparer.Ordinal);
    }
}
