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
            foreach (var (month, day) in new[] { (1, 1), (1, 2), (1, 7), (3, 8), (3, 21), (3, 22), (3, 23), (5, 1), (5, 7), (5, 9), (7, 6), (10, 25), (12, 16) })
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
    [InlineData(2026, 3, 9)] // 8 March was a Sunday
    [InlineData(2026, 3, 24)] // Nauryz: 21 and 22 March were Saturday and Sunday, 23 March a holiday
    [InlineData(2026, 3, 25)]
    [InlineData(2026, 5, 11)] // 9 May was a Saturday
    [InlineData(2026, 10, 26)] // 25 October was a Sunday
    [InlineData(2025, 9, 1)] // Constitution Day, 30 August 2025, was a Saturday
    [InlineData(2027, 1, 4)] // 2 January 2027 is a Saturday
    [InlineData(2027, 3, 24)] // 21 March 2027 is a Sunday, 22 and 23 March holidays
    public void A_holiday_on_a_weekend_moves_its_day_off_to_the_next_working_day_after_it(int year, int month, int day)
    {
        // The 2026 days are those of the government's published calendar for 2026.
        Assert.False(WorkingDayCalendar.Default.IsWorkingDay(new DateOnly(year, month, day)));
    }

    [Fact]
    public void Only_as_many_days_off_move_as_holidays_fell_on_the_weekend()
    {
        Assert.True(WorkingDayCalendar.Default.IsWorkingDay(new DateOnly(2026, 3, 26)));
        Assert.True(WorkingDayCalendar.Default.IsWorkingDay(new DateOnly(2026, 5, 12)));
        Assert.True(WorkingDayCalendar.Default.IsWorkingDay(new DateOnly(2027, 1, 5)));
    }

    [Fact]
    public void Religious_holidays_on_a_weekend_move_no_day_off()
    {
        // Orthodox Christmas, 7 January 2024, was a Sunday; Kurban Ait 2014, 4 October, a Saturday.
        var calendar = new WorkingDayCalendar([new DateOnly(2014, 10, 4)]);

        Assert.True(calendar.IsWorkingDay(new DateOnly(2024, 1, 8)));
        Assert.True(calendar.IsWorkingDay(new DateOnly(2014, 10, 6)));
    }

    [Fact]
    public void Constitution_day_is_15_march_from_2027_and_no_longer_30_august()
    {
        // The Constitution adopted by the referendum of 15 March 2026 (30 August 2025: see above).
        Assert.True(WorkingDayCalendar.Default.IsWorkingDay(new DateOnly(2026, 8, 31)));
        Assert.False(WorkingDayCalendar.Default.IsWorkingDay(new DateOnly(2027, 3, 15)));
        Assert.True(WorkingDayCalendar.Default.IsWorkingDay(new DateOnly(2027, 8, 30)));
    }

    [Fact]
    public void A_decree_moves_a_day_off_from_a_saturday_to_a_working_day()
    {
        // 2023: the day off of Saturday 1 July moved to Friday 7 July (Capital Day on Thursday 6 July).
        var calendar = new WorkingDayCalendar([new DateOnly(2023, 7, 7)], [new DateOnly(2023, 7, 1)]);

        Assert.True(calendar.IsWorkingDay(new DateOnly(2023, 7, 1)));
        Assert.False(calendar.IsWorkingDay(new DateOnly(2023, 7, 7)));
    }

    [Fact]
    public void A_day_configured_both_off_and_working_is_refused()
    {
        var day = new DateOnly(2026, 5, 27);

        var error = Assert.Throws<ArgumentException>(() => new WorkingDayCalendar([day], [day]));

        Assert.Contains("2026-05-27", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_deadline_skips_a_configured_day_off()
    {
        // Tuesday 26 May 2026; Kurban Ait, Wednesday 27 May, is configured.
        var tuesday = new DateTimeOffset(2026, 5, 26, 10, 0, 0, Almaty);
        var calendar = new WorkingDayCalendar([new DateOnly(2026, 5, 27)]);

        Assert.Equal(new DateTimeOffset(2026, 5, 29, 0, 0, 0, Almaty), WorkingDayCalendar.Default.EndOfWorkingDaysAfter(tuesday, 2));
        Assert.Equal(new DateTimeOffset(2026, 5, 30, 0, 0, 0, Almaty), calendar.EndOfWorkingDaysAfter(tuesday, 2));
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
