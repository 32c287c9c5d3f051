using BedBureau.HospitalAdapter.Input;

namespace BedBureau.HospitalAdapter.Tests;

/// <summary>
/// Report times are read from their text alone: each expected value carries its offset, so these
/// pass or fail the same on a machine in any time zone (the parser never consults the local one).
/// </summary>
public sealed class ExportRulesTests
{
    [Theory]
    [InlineData("2026-11-23T07:30:00+05", "2026-11-23T07:30:00+05:00")]
    [InlineData("2026-11-23T07:30:00+0500", "2026-11-23T07:30:00+05:00")]
    [InlineData("2026-11-23T07:30:00+05:00", "2026-11-23T07:30:00+05:00")]
    [InlineData("2026-11-23T02:30:00Z", "2026-11-23T02:30:00+00:00")]
    [InlineData("2026-11-23T02:30:00-03:30", "2026-11-23T02:30:00-03:30")]
    [InlineData("2026-11-23t02:30:00.1234567z", "2026-11-23T02:30:00.1234567+00:00")]
    [InlineData("2026-11-23T02:30:00,5+06:00", "2026-11-23T02:30:00.5000000+06:00")]
    [InlineData("2026-11-23T02:30:00.123456789Z", "2026-11-23T02:30:00.1234567+00:00")]
    [InlineData("2026-11-23 07:30", "2026-11-23T07:30:00+05:00")]
    [InlineData(" 2026-11-23T07:30 ", "2026-11-23T07:30:00+05:00")]
    [InlineData("05.11.2026 08:00", "2026-11-05T08:00:00+05:00")]
    [InlineData("5.11.2026 8:00:15", "2026-11-05T08:00:15+05:00")]
    [InlineData("23.11.2026 07:30+05:00", "2026-11-23T07:30:00+05:00")]
    public void Reads_iso_8601_and_day_month_year_with_any_offset_form_and_kazakhstan_time_without_one(string text, string expected)
    {
        Assert.Null(ExportRules.TimeProblem(text, out var time));

        var want = DateTimeOffset.ParseExact(expected, "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFzzz", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal((want.UtcDateTime, want.Offset), (time.UtcDateTime, time.Offset));
    }

    [Theory]
    [InlineData("05/11/2026 08:00", "slashes, day/month in some systems and month/day in others")]
    [InlineData("2026/11/23 08:00", "slashes")]
    [InlineData("11.23.2026 08:00", "is not a valid date and time (dates with dots are day.month.year)")]
    [InlineData("31.11.2026 08:00", "is not a valid date and time")]
    [InlineData("2026-11-31T08:00", "is not a valid date and time")]
    [InlineData("2026-11-23T24:00", "is not a valid date and time")]
    [InlineData("2026-11-23T08:00+15:00", "is not a valid date and time")]
    [InlineData("2026-11-23T08:00+05:60", "is not a valid date and time")]
    [InlineData("2026-11-23", "is not an ISO 8601 time")]
    [InlineData("23.11.26 08:00", "is not an ISO 8601 time")]
    [InlineData("Nov 23, 2026 8:00 AM", "is not an ISO 8601 time")]
    [InlineData("２０２６-11-23T08:00", "is not an ISO 8601 time")]
    public void Refuses_ambiguous_and_invalid_times_saying_why(string text, string reason)
    {
        var problem = ExportRules.TimeProblem(text, out _);

        Assert.NotNull(problem);
        Assert.StartsWith($"'{text}'", problem, StringComparison.Ordinal);
        Assert.Contains(reason, problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("2026-11-23T07:30:00+05:00")]
    [InlineData("2026-11-23T02:30:00Z")]
    public void A_fhir_instant_is_read_with_its_offset(string text)
    {
        Assert.Null(ExportRules.InstantProblem(text, out var time));

        Assert.Equal(new DateTimeOffset(2026, 11, 23, 2, 30, 0, TimeSpan.Zero), time);
    }

    [Theory]
    [InlineData("2026-11-23T07:30:00", "has no time zone")]
    [InlineData("2026-11-23 07:30:00+05:00", "is not a FHIR instant")]
    [InlineData("23.11.2026 07:30:00+05:00", "is not a FHIR instant")]
    public void A_fhir_instant_without_its_offset_or_not_in_iso_8601_is_refused_saying_why(string text, string reason)
    {
        var problem = ExportRules.InstantProblem(text, out _);

        Assert.NotNull(problem);
        Assert.Contains(reason, problem, StringComparison.Ordinal);
    }
}
