using System.Collections.Concurrent;
using System.Globalization;

namespace BedBureau.BedGrain.Domain;

/// <summary>
/// Kazakhstan's working days: Monday to Friday except public holidays, the days off the law
/// moves from holidays falling on a weekend, and configured days off (Kurban Ait, government
/// decrees) and working days (decrees). Dates are local (UTC+5, the single national time zone
/// since 2024).
/// </summary>
public sealed class WorkingDayCalendar
{
    public static readonly TimeSpan KazakhstanOffset = TimeSpan.FromHours(5);

    // National and state holidays (law "On holidays in the Republic of Kazakhstan", Labour Code
    // art. 84); Independence Day is 16 December only since 2022. When one falls on a weekend the
    // next working day after it is a day off (the law's art. 5).
    private static readonly HashSet<int> FixedHolidays =
    [
        0101, 0102, 0308, 0321, 0322, 0323, 0501, 0507, 0509, 0706, 1025, 1216,
    ];

    // A religious holiday is a day off but never moved (the law's art. 5): Orthodox Christmas;
    // Kurban Ait, set each year, comes through configuration.
    private const int OrthodoxChristmas = 0107;

    private readonly HashSet<DateOnly> _extraDaysOff;
    private readonly HashSet<DateOnly> _extraWorkingDays;
    private readonly ConcurrentDictionary<int, HashSet<DateOnly>> _movedDaysOff = new();

    /// <param name="extraDaysOff">Days off the law does not date: Kurban Ait, days moved by government decree.</param>
    /// <param name="extraWorkingDays">Days a decree makes working (a Saturday given for a bridging day off); they override everything else.</param>
    public WorkingDayCalendar(IEnumerable<DateOnly>? extraDaysOff = null, IEnumerable<DateOnly>? extraWorkingDays = null)
    {
        _extraDaysOff = [.. extraDaysOff ?? []];
        _extraWorkingDays = [.. extraWorkingDays ?? []];
        var both = _extraDaysOff.Where(_extraWorkingDays.Contains).Order().ToArray();
        if (both.Length > 0)
        {
            throw new ArgumentException($"Configured both as days off and as working days: {string.Join(", ", both.Select(d => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)))}.");
        }
    }

    public static WorkingDayCalendar Default { get; } = new();

    public static DateOnly LocalDate(DateTimeOffset instant) => DateOnly.FromDateTime(instant.ToOffset(KazakhstanOffset).DateTime);

    public bool IsWorkingDay(DateOnly date) =>
        _extraWorkingDays.Contains(date) ||
        (IsWeekday(date) && !IsHoliday(date) && !_extraDaysOff.Contains(date) && !MovedDaysOff(date.Year).Contains(date));

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

    private static bool IsWeekday(DateOnly date) => date.DayOfWeek is not (DayOfWeek.Saturday or DayOfWeek.Sunday);

    private static bool IsHoliday(DateOnly date) => IsMovableHoliday(date) || date.Month * 100 + date.Day == OrthodoxChristmas;

    private static bool IsMovableHoliday(DateOnly date)
    {
        var day = date.Month * 100 + date.Day;
        return FixedHolidays.Contains(day) || day == ConstitutionDay(date.Year);
    }

    // The Constitution adopted by the referendum of 15 March 2026 makes that date Constitution
    // Day, celebrated from 2027; 30 August (the 1995 Constitution) is no longer a holiday from 2026.
    private static int ConstitutionDay(int year) => year <= 2025 ? 0830 : year >= 2027 ? 0315 : 0;

    /// <summary>The days off moved in <paramref name="year"/> from holidays on a weekend, each to the next working day after its holiday.</summary>
    private HashSet<DateOnly> MovedDaysOff(int year) => _movedDaysOff.GetOrAdd(year, static (year, calendar) =>
    {
        var moved = new HashSet<DateOnly>();
        var owed = 0;

        // From December before: a holiday at the end of a year may move a day off into the next.
        for (var date = new DateOnly(year - 1, 12, 1); date.Year <= year; date = date.AddDays(1))
        {
            if (IsMovableHoliday(date))
            {
                owed += IsWeekday(date) ? 0 : 1;
            }
            else if (owed > 0 && IsWeekday(date) && !IsHoliday(date) && !calendar._extraDaysOff.Contains(date))
            {
                owed--;
                if (date.Year == year)
                {
                    moved.Add(date);
                }
            }
        }

        return moved;
    }, this);
}
