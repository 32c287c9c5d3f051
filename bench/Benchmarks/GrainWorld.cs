using BedBureau.BedGrain;
using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Runtime;
using BedBureau.BedGrain.Storage;

namespace BedBureau.Benchmarks;

/// <summary>Storage that keeps nothing: measures the grains alone.</summary>
internal sealed class NoOpStorage : IBedGrainStorage
{
    public Task<BedGrainSnapshot?> LoadAsync(BedGrainKey key, DateTimeOffset requestsSince, CancellationToken cancellationToken) => Task.FromResult<BedGrainSnapshot?>(null);

    public Task<BedGrainReferrals> LoadReferralsAsync(BedGrainKey key, long version, CancellationToken cancellationToken) => Task.FromResult(new BedGrainReferrals([], []));

    public Task<BedGrainReferrals> LoadReferralChangesAsync(BedGrainKey key, long version, long eventSequence, CancellationToken cancellationToken) => Task.FromResult(new BedGrainReferrals([], []));

    public Task<BedGrainReferrals> LoadDueReferralsAsync(BedGrainKey key, long version, DateOnly plannedBy, CancellationToken cancellationToken) => Task.FromResult(new BedGrainReferrals([], []));

    public Task CommitAsync(BedGrainKey key, long expectedVersion, BedGrainChange change, CancellationToken cancellationToken) => Task.CompletedTask;

    public IAsyncEnumerable<BedGrainSummary> ReadSummariesAsync(DateOnly fromDate, CancellationToken cancellationToken) => AsyncEnumerable.Empty<BedGrainSummary>();
}

internal sealed class PlainProtector : IPersonalDataProtector
{
    public string Hash(string value) => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(value)));

    public string Protect(string value) => value;

    public string Unprotect(string protectedValue) => protectedValue;
}

/// <summary>
/// A grain that only takes a slot of a date and keeps the request id: what a reservation costs
/// before any of its own work (<see cref="GrainBenchmarks.SlotOnlyReservation"/>).
/// </summary>
internal sealed class SlotOnlyGrain(DateOnly firstDay, int days, int slotsPerDay) : IGrain
{
    private readonly int[] _free = Enumerable.Repeat(slotsPerDay, days).ToArray();
    private readonly List<string> _requestIds = [];

    public DateTimeOffset? NextWakeUp => null;

    public Task WakeUpAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>The reservation's sequence in this grain.</summary>
    public int Take(RegisterReferral command)
    {
        var day = command.PlannedDate.DayNumber - firstDay.DayNumber;
        if (day < 0 || day >= _free.Length || _free[day] == 0)
        {
            throw new InvalidOperationException($"no free slot on {command.PlannedDate}");
        }

        _free[day]--;
        _requestIds.Add(command.RequestId);
        return _requestIds.Count;
    }
}

/// <summary>A national-size directory (hospitals × adult profiles) on a no-op storage.</summary>
internal static class GrainWorld
{
    public static readonly DateTimeOffset Now = new(2026, 11, 2, 9, 0, 0, TimeSpan.FromHours(5));

    public static DateOnly Today => WorkingDayCalendar.LocalDate(Now);

    public static ReferenceDirectory Directory(int hospitals, int profilesPerHospital)
    {
        var profiles = Enumerable.Range(0, 30).Select(i => new BedProfile($"{101 + i}", false, $"profile {i}")).ToArray();
        var random = new Random(7);
        return new ReferenceDirectory(
            Enumerable.Range(0, hospitals).Select(h => new Hospital($"H{h:D4}", $"hospital {h}", $"{10 + h % 20 * 3}",
                profiles.OrderBy(_ => random.Next()).Take(profilesPerHospital).Select(p => p.Code).Append("101").ToHashSet())),
            profiles);
    }

    /// <param name="patients">With it, registrations go through durable patient grains (a multi-node bureau).</param>
    public static Bureau Bureau(ReferenceDirectory directory, IPatientGrainStorage? patients = null) =>
        new(directory, new NoOpStorage(), new PlainProtector(), new FixedTime(Now), patientStorage: patients);

    public static string Iin(int serial)
    {
        var digits = $"700517{3}{serial % 10000:D4}";
        for (var check = 0; check < 10; check++)
        {
            if (Identifiers.HasValidCheckDigit(digits + check))
            {
                return digits + check;
            }
        }

        return Iin(serial + 10000);
    }

    /// <summary>Valid IINs, each different (the one-active-referral rule applies per patient).</summary>
    public static string[] Iins(int count)
    {
        var result = new List<string>(count);
        for (var year = 40; result.Count < count; year++)
        {
            for (var serial = 0; serial < 10000 && result.Count < count; serial++)
            {
                var digits = $"{year:D2}0517{3}{serial:D4}";
                for (var check = 0; check < 10; check++)
                {
                    if (Identifiers.HasValidCheckDigit(digits + check))
                    {
                        result.Add(digits + check);
                        break;
                    }
                }
            }
        }

        return [.. result];
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
