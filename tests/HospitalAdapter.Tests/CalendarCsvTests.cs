using BedBureau.HospitalAdapter.Input;

namespace BedBureau.HospitalAdapter.Tests;

public sealed class CalendarCsvTests
{
    // 23:30 UTC is already the 24th in Kazakhstan: "today" is the local date.
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 23, 30, 0, TimeSpan.Zero);

    private static Origin Line(int line) => new("calendar.csv", $"line {line}");

    [Fact]
    public void Groups_dates_per_profile_in_date_order_each_with_its_row()
    {
        var calendars = CalendarCsv.Parse("calendar.csv", "bed_profile_code,date,slots\n101,2026-11-26,4\n103,2026-11-24,1\n101,2026-11-25,6\n", Now);

        Assert.Equal(2, calendars.Profiles.Count);
        var cardiology = calendars.Profiles.Single(c => c.ProfileCode == "101");
        Assert.Equal([new CalendarDay(new DateOnly(2026, 11, 25), 6, Line(4)), new CalendarDay(new DateOnly(2026, 11, 26), 4, Line(2))], cardiology.Days);
        Assert.Equal([new CalendarDay(new DateOnly(2026, 11, 24), 1, Line(3))], calendars.Profiles.Single(c => c.ProfileCode == "103").Days);
        Assert.Equal(0, calendars.PastDatesSkipped);
    }

    [Fact]
    public void Skips_and_counts_dates_before_today_and_profiles_left_with_none()
    {
        var calendars = CalendarCsv.Parse("calendar.csv", "bed_profile_code,date,slots\n101,2026-11-23,4\n101,2026-11-24,6\n103,2026-11-22,1\n103,2026-11-23,1\n", Now);

        var cardiology = Assert.Single(calendars.Profiles);
        Assert.Equal("101", cardiology.ProfileCode);
        Assert.Equal([new CalendarDay(new DateOnly(2026, 11, 24), 6, Line(3))], cardiology.Days);
        Assert.Equal((3, new DateOnly(2026, 11, 24)), (calendars.PastDatesSkipped, calendars.Today));
    }

    [Theory]
    [InlineData("bed_profile_code,date,slots\n101,2027-02-23,4\n", "line 2", "date", "more than 90 days after today (2026-11-24)")]
    [InlineData("bed_profile_code,date,slots\n101,2026-11-25,4\n101,2026-11-23,many\n", "line 3", "slots", "not a whole number")]
    [InlineData("bed_profile_code,date,slots\n101,24.11.2026,4\n", "line 2", "date", "not a date as yyyy-MM-dd")]
    [InlineData("bed_profile_code,date,slots\n101,2026-11-25,4\n101,2026-11-25,5\n", "line 3", "date", "already appears on line 2")]
    [InlineData("bed_profile_code,date,slots\n101,2026-11-25,10001\n", "line 2", "slots", "outside 0..10000")]
    [InlineData("bed_profile_code,date\n101,2026-11-25\n", "line 1", "slots", "required column is missing")]
    [InlineData("bed_profile_code,date,slots\n", "line 2", "row", "a header but no admission days")]
    [InlineData("bed_profile_code,date,slots\r\n\r\n", "line 2", "row", "a header but no admission days")]
    public void Rejects_the_whole_file_naming_line_field_and_reason(string text, string location, string field, string reason)
    {
        var error = Assert.Throws<InputException>(() => CalendarCsv.Parse("calendar.csv", text, Now));

        Assert.Equal((location, field), (error.Location, error.Field));
        Assert.Contains(reason, error.Reason, StringComparison.Ordinal);
    }
}
