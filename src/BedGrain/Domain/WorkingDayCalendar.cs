namespace BedBureau.BedGrain.Domain;

/// <summary>
/// Kazakhstan's working days: Monday to Friday except public holidays (and configured extra
/// days off). Dates are local (UTC+5, the single national time zone since 2024).
/// </summary>
public sealed class WorkingDayCalendar
{
    public static readonly TimeSpan KazakhstanOffset = TimeSpan.FromHours(5);

    // Fixed-date public holidays (Labour Code art. 84 and the law on holidays); Kurban Ait moves
    // each year and is added through configuration.
    private static readonly HashSet<int> FixedHolidays =
    [
        0101, 0102, 0107, 0308, 0321, 0322, 0323, 0501, 0507, 0509, 0706, 0830, 1025, 1216,
    ];

    private readonly HashSet<DateOnly> _extraDaysOff;

    public WorkingDayCalendar(IEnumerable<DateOnly>? extraDaysOff = null)
    {
        _extraDaysOff = [.. extraDaysOff ?? []];
    }

    public static WorkingDayCalendar Default { get; } = new();

    public static DateOnly LocalDate(DateTimeOffset instant) => DateOnly.FromDateTime(instant.ToOffset(KazakhstanOffset).DateTime);

    public bool IsWorkingDay(DateOnly date) =>
        date.DayOfWeek is not (DayOfWeek.Saturday or DayOfWeek.Sunday) &&
        !FixedHolidays.Contains(date.Month * 100 + date.Day) &&
        !_extraDaysOff.Contains(date);

    /// <summary>The end (local midnight) of the n-th working day after the instant's date.</summary>
    public DateTimeOffset EndOfWorkingDaysAfter(DateTimeOffset instant, int workingDays)
    {
        var date = LocalDate(instant);
        var counted = 0;
        while (counted < workingDays)
        {
            date = date.AddDays(1);
            if (IsWorkingDay(date))
            {
                counted++;
            }
        }

        return new DateTimeOffset(date.AddDays(1).ToDateTime(TimeOnly.MinValue), KazakhstanOffset);
    }
}
