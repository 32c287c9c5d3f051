using BedBureau.BedGrain.Domain;

namespace BedBureau.BedGrain.Tests;

public sealed class WorkingDayCalendarTests
{
    private static readonly TimeSpan Almaty = WorkingDayCalendar.KazakhstanOffset;

    public static TheoryData<DateOnly> Holidays2026And2027()
    {
        var data = new TheoryData<DateOnly>();
        foreach (var year in new[] { 2026, 2027 })
        {
            foreach (var (month, day) in new[] { (1, 1), (1, 2), (1, 7), (3, 8), (3, 21), (3, 22), (3, 23), (5, 1), (5, 7), (5, 9), (7, 6), (8, 30), (10, 25), (12, 16) })
            {
                data.Add(new DateOnly(year, month, day));
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Holidays2026And2027))]
    public void Public_holidays_are_days_off(DateOnly holiday)
    {
        Assert.False(WorkingDayCalendar.Default.IsWorkingDay(holiday));
    }

    [Theory]
    [InlineData(2026, 11, 7)] // Saturday
    [InlineData(2026, 11, 8)] // Sunday
    public void Weekends_are_days_off(int year, int month, int day)
    {
        Assert.False(WorkingDayCalendar.Default.IsWorkingDay(new DateOnly(year, month, day)));
    }

    [Fact]
    public void An_ordinary_weekday_is_a_working_day()
    {
        Assert.True(WorkingDayCalendar.Default.IsWorkingDay(new DateOnly(2026, 11, 4)));
    }

    [Fact]
    public void Configured_extra_days_off_are_days_off()
    {
        var extra = new DateOnly(2026, 5, 27); // e.g. Kurban Ait, which moves each year
        var calendar = new WorkingDayCalendar([extra]);

        Assert.True(WorkingDayCalendar.Default.IsWorkingDay(extra));
        Assert.False(calendar.IsWorkingDay(extra));
    }

    [Fact]
    public void Two_working_days_from_friday_end_on_tuesday_night()
    {
        var friday = new DateTimeOffset(2026, 11, 6, 15, 0, 0, Almaty);

        var due = WorkingDayCalendar.Default.EndOfWorkingDaysAfter(friday, 2);

        Assert.Equal(new DateTimeOffset(2026, 11, 11, 0, 0, 0, Almaty), due);
    }

    [Fact]
    public void The_deadline_skips_holidays()
    {
        // Monday 14 December 2026; Wednesday 16 December is Independence Day.
        var monday = new DateTimeOffset(2026, 12, 14, 10, 0, 0, Almaty);

        var due = WorkingDayCalendar.Default.EndOfWorkingDaysAfter(monday, 2);

        Assert.Equal(new DateTimeOffset(2026, 12, 18, 0, 0, 0, Almaty), due);
    }

    [Fact]
    public void Local_date_is_taken_in_kazakhstan_time()
    {
        // 20:30 UTC on 1 November is 01:30 on 2 November in Almaty.
        Assert.Equal(new DateOnly(2026, 11, 2), WorkingDayCalendar.LocalDate(new DateTimeOffset(2026, 11, 1, 20, 30, 0, TimeSpan.Zero)));
    }
}
