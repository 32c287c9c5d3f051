using System.Buffers;
using System.Collections.Concurrent;
using System.Numerics;
using BedBureau.BedGrain.Storage;

namespace BedBureau.BedGrain.Domain;

/// <summary>One hospital's answer to a free-bed search.</summary>
public sealed record FreeBedOffer(Hospital Hospital, string ProfileCode, DateOnly EarliestFreeDate, int FreeSlotsInRange, BedCensus? Census, bool CensusStale, int QueueLength);

public sealed record FreeBedQuery(string ProfileCode, string? RegionCode, DateOnly From, DateOnly To, bool? Child, int MaxResults);

/// <summary>
/// Free admission slots and bed counts of every (hospital, profile), kept current by the grains'
/// commits, so a nationwide search reads memory and never fans out to grains. Each grain writes
/// only its own entry, inside its turn (one writer per entry); readers never lock and see each
/// day's count whole (int writes are atomic), which is all an index needs.
/// </summary>
public sealed class FreeBedIndex(ReferenceDirectory directory, TimeProvider time, TimeSpan staleAfter)
{
    private readonly ConcurrentDictionary<string, ProfileEntries> _byProfile = new(StringComparer.Ordinal);

    /// <summary>Replaces a grain's entry from its summary (start-up recovery).</summary>
    public void Update(BedGrainSummary summary)
    {
        if (EntryOf(summary.Key) is not { } entry)
        {
            return;
        }

        entry.Census = summary.Census;
        entry.QueueLength = summary.QueueLength;
        foreach (var day in summary.Calendar)
        {
            entry.SetFree(day.Date.DayNumber, day.Free);
        }
    }

    /// <summary>The entry a grain keeps current; null when the hospital is not in the directory.</summary>
    internal Entry? EntryOf(BedGrainKey key)
    {
        var entries = _byProfile.GetOrAdd(key.ProfileCode, static _ => new ProfileEntries());
        if (entries.ByHospital.TryGetValue(key.HospitalId, out var entry))
        {
            return entry;
        }

        if (directory.FindHospital(key.HospitalId) is not { } hospital)
        {
            return null;
        }

        lock (entries)
        {
            if (!entries.ByHospital.TryGetValue(key.HospitalId, out entry))
            {
                // The search packs an entry's place in 16 bits; the country has ~1,400 hospitals.
                if (entries.All.Length >= 1 << 16)
                {
                    throw new InvalidOperationException($"More than {1 << 16} hospitals offer profile {key.ProfileCode}.");
                }

                entry = new Entry(hospital);
                entries.ByHospital[key.HospitalId] = entry;
                entries.All = [.. entries.All, entry];
            }
        }

        return entry;
    }

    /// <summary>
    /// A grain's census as its last commit (or the start-up recovery) left it, without activating
    /// the grain: reading a hospital's bed counts must not load its whole queue from storage.
    /// </summary>
    public BedCensus? CensusOf(BedGrainKey key) =>
        _byProfile.TryGetValue(key.ProfileCode, out var entries) && entries.ByHospital.TryGetValue(key.HospitalId, out var entry) ? entry.Census : null;

    /// <summary>Hospitals with free slots in the range, earliest free date first.</summary>
    public IReadOnlyList<FreeBedOffer> Search(FreeBedQuery query)
    {
        if (query.MaxResults <= 0 || query.To < query.From || !_byProfile.TryGetValue(query.ProfileCode, out var entries))
        {
            return [];
        }

        // Adult and child profiles are separate codes: a filter that excludes the profile finds nothing.
        if (query.Child is { } child && directory.FindProfile(query.ProfileCode) is { } profile && profile.IsChild != child)
        {
            return [];
        }

        var all = entries.All;
        var from = query.From.DayNumber;
        var to = query.To.DayNumber;
        var region = query.RegionCode is { Length: > 0 } r ? r : null;
        var now = time.GetUtcNow();

        // Each candidate as one sortable number: earliest day, then fresh before stale, then more
        // free slots, then its place in the entries; a primitive sort, no comparer, no allocation.
        var keys = ArrayPool<long>.Shared.Rent(all.Length);
        try
        {
            var count = 0;
            for (var i = 0; i < all.Length; i++)
            {
                var entry = all[i];
                if (region is not null && !string.Equals(entry.Hospital.RegionCode, region, StringComparison.Ordinal))
                {
                    continue;
                }

                var (earliest, slots) = entry.FreeIn(from, to);
                if (slots > 0)
                {
                    var stale = entry.Census is not { } census || census.IsStale(now, staleAfter);
                    keys[count++] = ((long)(earliest - from) << 37) | ((stale ? 1L : 0L) << 36) | ((long)(MaxSlots - Math.Min(slots, MaxSlots)) << 16) | (uint)i;
                }
            }

            var found = keys.AsSpan(0, count);
            found.Sort();
            var offers = new FreeBedOffer[Math.Min(count, query.MaxResults)];
            for (var i = 0; i < offers.Length; i++)
            {
                var entry = all[(int)(found[i] & 0xFFFF)];
                var census = entry.Census;
                var (earliest, slots) = entry.FreeIn(from, to);
                offers[i] = new FreeBedOffer(entry.Hospital, query.ProfileCode, DateOnly.FromDayNumber(earliest), slots, census,
                    census is null || census.IsStale(now, staleAfter), entry.QueueLength);
            }

            return offers;
        }
        finally
        {
            ArrayPool<long>.Shared.Return(keys);
        }
    }

    /// <summary>
    /// Bed counts of the (hospital, profile) pairs in the index by freshness: reported within the
    /// staleness limit, reported longer ago (shown as stale), or never reported. For metrics.
    /// </summary>
    public (int Fresh, int Stale, int Unreported) CensusFreshness()
    {
        var now = time.GetUtcNow();
        int fresh = 0, stale = 0, unreported = 0;
        foreach (var entries in _byProfile.Values)
        {
            foreach (var entry in entries.All)
            {
                if (entry.Census is not { } census)
                {
                    unreported++;
                }
                else if (census.IsStale(now, staleAfter))
                {
                    stale++;
                }
                else
                {
                    fresh++;
                }
            }
        }

        return (fresh, stale, unreported);
    }

    private const int MaxSlots = (1 << 20) - 1;

    private sealed class ProfileEntries
    {
        public ConcurrentDictionary<string, Entry> ByHospital { get; } = new(StringComparer.Ordinal);

        /// <summary>Copy-on-add: searches iterate it without locks.</summary>
        public Entry[] All { get; set; } = [];
    }

    /// <summary>One grain's free slots per day and its census. Written only by its grain.</summary>
    internal sealed class Entry(Hospital hospital)
    {
        // The first day's number, then the free slots of each day from it: one array, replaced
        // whole when the window moves, so a search reads one consistent object without a lock
        // and without a second pointer to follow per hospital.
        private int[] _days = [0];

        public Hospital Hospital { get; } = hospital;

        public volatile BedCensus? Census;

        public volatile int QueueLength;

        public void SetFree(int day, int free)
        {
            var days = _days;
            var index = day - days[0] + 1;
            if (index < 1 || index >= days.Length)
            {
                days = Grow(days, day);
                index = day - days[0] + 1;
            }

            days[index] = free;
        }

        public (int EarliestDay, int Slots) FreeIn(int from, int to)
        {
            var days = Volatile.Read(ref _days);
            var first = days[0];
            var start = Math.Max(from, first) - first + 1;
            var end = Math.Min(to, first + days.Length - 2) - first + 1;
            if (end < start)
            {
                return (0, 0);
            }

            // Counts are never negative (a day over capacity has 0 free), so the earliest day with
            // room is the first that is not 0; both steps are vectorized (a national search runs
            // this for every hospital offering the profile).
            var range = days.AsSpan(start, end - start + 1);
            var earliest = range[0] > 0 ? 0 : range.IndexOfAnyExcept(0); // most often the first day has room
            return earliest < 0 ? (0, 0) : (first + start - 1 + earliest, Sum(range[earliest..]));
        }

        private int[] Grow(int[] days, int day)
        {
            // Room around the date: calendars move forward a day at a time.
            var known = days.Length > 1;
            var first = known ? Math.Min(days[0], day - 7) : day - 7;
            var last = known ? Math.Max(days[0] + days.Length - 2, day + 120) : day + 120;
            var grown = new int[last - first + 2];
            grown[0] = first;
            if (known)
            {
                Array.Copy(days, 1, grown, days[0] - first + 1, days.Length - 1);
            }

            Volatile.Write(ref _days, grown);
            return grown;
        }

        private static int Sum(ReadOnlySpan<int> values)
        {
            var total = Vector<int>.Zero;
            var i = 0;
            for (; i <= values.Length - Vector<int>.Count; i += Vector<int>.Count)
            {
                total += new Vector<int>(values[i..]);
            }

            var sum = Vector.Sum(total);
            for (; i < values.Length; i++)
            {
                sum += values[i];
            }

            return sum;
        }
    }
}
