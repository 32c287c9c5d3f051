using System.Collections.Concurrent;
using BedBureau.BedGrain.Storage;

namespace BedBureau.BedGrain.Domain;

/// <summary>One hospital's answer to a free-bed search.</summary>
public sealed record FreeBedOffer(Hospital Hospital, string ProfileCode, DateOnly EarliestFreeDate, int FreeSlotsInRange, BedCensus? Census, bool CensusStale, int QueueLength);

public sealed record FreeBedQuery(string ProfileCode, string? RegionCode, DateOnly From, DateOnly To, bool? Child, int MaxResults);

/// <summary>
/// Free admission slots and bed counts of every (hospital, profile), kept current by the grains'
/// commits, so a nationwide search reads memory and never fans out to grains. Per profile, an
/// immutable array of entries is swapped on each change (readers never lock).
/// </summary>
public sealed class FreeBedIndex(ReferenceDirectory directory, TimeProvider time, TimeSpan staleAfter) : IBedGrainObserver
{
    private readonly ConcurrentDictionary<string, ProfileEntries> _byProfile = new(StringComparer.Ordinal);

    public void OnCommitted(BedGrainKey key, BedGrainChange change, BedGrainSummary summary) => Update(summary);

    public void Update(BedGrainSummary summary)
    {
        var hospital = directory.FindHospital(summary.Key.HospitalId);
        if (hospital is null)
        {
            return;
        }

        var entries = _byProfile.GetOrAdd(summary.Key.ProfileCode, _ => new ProfileEntries());
        var free = summary.Calendar.Where(d => d.Free > 0).Select(d => (d.Date.DayNumber, d.Free)).ToArray();
        var entry = new Entry(hospital, summary.Census, free, summary.QueueLength);
        lock (entries)
        {
            entries.ByHospital[hospital.Id] = entry;
            entries.Snapshot = null;
        }
    }

    public IReadOnlyList<FreeBedOffer> Search(FreeBedQuery query)
    {
        if (!_byProfile.TryGetValue(query.ProfileCode, out var entries))
        {
            return [];
        }

        var snapshot = entries.Snapshot;
        if (snapshot is null)
        {
            lock (entries)
            {
                snapshot = entries.Snapshot ??= [.. entries.ByHospital.Values];
            }
        }

        if (query.Child is { } child && directory.FindProfile(query.ProfileCode) is { } profile && profile.IsChild != child)
        {
            return [];
        }

        var from = query.From.DayNumber;
        var to = query.To.DayNumber;
        var now = time.GetUtcNow();
        var found = new List<FreeBedOffer>();
        foreach (var entry in snapshot)
        {
            if (query.RegionCode is { Length: > 0 } region && entry.Hospital.RegionCode != region)
            {
                continue;
            }

            var earliest = 0;
            var slots = 0;
            foreach (var (day, free) in entry.FreeDays)
            {
                if (day < from || day > to)
                {
                    continue;
                }

                if (earliest == 0)
                {
                    earliest = day;
                }

                slots += free;
            }

            if (slots > 0)
            {
                found.Add(new FreeBedOffer(entry.Hospital, query.ProfileCode, DateOnly.FromDayNumber(earliest), slots, entry.Census,
                    entry.Census is null || entry.Census.IsStale(now, staleAfter), entry.QueueLength));
            }
        }

        // Earliest free date first; among equals, fresh counts and then more free slots.
        found.Sort(static (a, b) =>
        {
            var byDate = a.EarliestFreeDate.CompareTo(b.EarliestFreeDate);
            if (byDate != 0)
            {
                return byDate;
            }

            var byFreshness = a.CensusStale.CompareTo(b.CensusStale);
            return byFreshness != 0 ? byFreshness : b.FreeSlotsInRange.CompareTo(a.FreeSlotsInRange);
        });
        return found.Count > query.MaxResults ? found.GetRange(0, query.MaxResults) : found;
    }

    private sealed class ProfileEntries
    {
        public Dictionary<string, Entry> ByHospital { get; } = new(StringComparer.Ordinal);

        public Entry[]? Snapshot { get; set; }
    }

    private sealed record Entry(Hospital Hospital, BedCensus? Census, (int Day, int Free)[] FreeDays, int QueueLength);
}
