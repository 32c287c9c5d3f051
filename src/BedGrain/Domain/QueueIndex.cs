namespace BedBureau.BedGrain.Domain;

/// <summary>
/// The active referrals of a grain in queue order (planned date, then registration), with a
/// referral's position in O(log n): a Fenwick tree counts referrals per day, and each day keeps
/// its registration sequences sorted.
/// </summary>
internal sealed class QueueIndex
{
    private readonly Dictionary<int, List<long>> _byDay = [];
    private int _baseDay;
    private int[] _tree = new int[1];

    public int Count { get; private set; }

    public void Add(DateOnly date, long sequence)
    {
        var day = date.DayNumber;
        EnsureCovers(day);
        if (!_byDay.TryGetValue(day, out var sequences))
        {
            _byDay[day] = sequences = [];
        }

        var index = sequences.BinarySearch(sequence);
        sequences.Insert(index < 0 ? ~index : index, sequence);
        Update(day, 1);
        Count++;
    }

    public bool Remove(DateOnly date, long sequence)
    {
        var day = date.DayNumber;
        if (!_byDay.TryGetValue(day, out var sequences))
        {
            return false;
        }

        var index = sequences.BinarySearch(sequence);
        if (index < 0)
        {
            return false;
        }

        sequences.RemoveAt(index);
        if (sequences.Count == 0)
        {
            _byDay.Remove(day);
        }

        Update(day, -1);
        Count--;
        return true;
    }

    /// <summary>1-based place in the queue, or 0 when not queued.</summary>
    public int PositionOf(DateOnly date, long sequence)
    {
        var day = date.DayNumber;
        if (!_byDay.TryGetValue(day, out var sequences))
        {
            return 0;
        }

        var index = sequences.BinarySearch(sequence);
        return index < 0 ? 0 : CountBefore(day) + index + 1;
    }

    /// <summary>The earliest day with someone queued: the first tree position with a count, in O(log n).</summary>
    public DateOnly? FirstDate
    {
        get
        {
            if (Count == 0)
            {
                return null;
            }

            // Fenwick descent: the largest prefix holding nobody, then one past it.
            var position = 0;
            for (var step = 1 << (31 - int.LeadingZeroCount(_tree.Length)); step > 0; step >>= 1)
            {
                var next = position + step;
                if (next < _tree.Length && _tree[next] == 0)
                {
                    position = next;
                }
            }

            return DateOnly.FromDayNumber(_baseDay + position);
        }
    }

    public IReadOnlyList<long> SequencesOn(DateOnly date) => _byDay.TryGetValue(date.DayNumber, out var s) ? s : [];

    /// <summary>(date, sequence) in queue order.</summary>
    public IEnumerable<(DateOnly Date, long Sequence)> InOrder()
    {
        foreach (var day in _byDay.Keys.Order())
        {
            foreach (var sequence in _byDay[day])
            {
                yield return (DateOnly.FromDayNumber(day), sequence);
            }
        }
    }

    private int CountBefore(int day)
    {
        var sum = 0;
        for (var i = day - _baseDay; i > 0; i -= i & -i)
        {
            sum += _tree[i];
        }

        return sum;
    }

    private void Update(int day, int delta)
    {
        for (var i = day - _baseDay + 1; i < _tree.Length; i += i & -i)
        {
            _tree[i] += delta;
        }
    }

    private void EnsureCovers(int day)
    {
        if (Count > 0 && day >= _baseDay && day - _baseDay + 1 < _tree.Length)
        {
            return;
        }

        // Rebuild around all queued days with room on both sides (rare: dates move slowly).
        var low = Count == 0 ? day : Math.Min(day, _byDay.Keys.Min());
        var high = Count == 0 ? day : Math.Max(day, _byDay.Keys.Max());
        _baseDay = low - 64;
        _tree = new int[high - _baseDay + 256];
        foreach (var (existing, sequences) in _byDay)
        {
            Update(existing, sequences.Count);
        }
    }
}
