using BedBureau.HospitalAdapter.Input;

namespace BedBureau.HospitalAdapter.Tests;

public sealed class BedCsvTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 9, 0, 0, TimeSpan.FromHours(5));

    [Fact]
    public void Reads_required_and_optional_columns_in_any_order()
    {
        var counts = BedCsv.Parse("beds.csv", "free,total,bed_profile_code,occupied,free_male,free_female,reported_at\n7,40,101,31,3,4,2026-11-23T02:30:00Z\n5,25,103,20,,,\n", Now);

        Assert.Equal(2, counts.Count);
        Assert.Equal(new BedCount("101", 40, 31, 7, 3, 4, new DateTimeOffset(2026, 11, 23, 2, 30, 0, TimeSpan.Zero), new Origin("beds.csv", "line 2")), counts[0]);
        Assert.Equal(("103", 25, 20, 5, 0, 0, (DateTimeOffset?)null), (counts[1].ProfileCode, counts[1].Total, counts[1].Occupied, counts[1].Free, counts[1].FreeMale, counts[1].FreeFemale, counts[1].ReportedAt));
    }

    [Fact]
    public void Reads_semicolon_exports_quoted_fields_and_crlf_and_takes_times_without_offset_as_kazakhstan_time()
    {
        var counts = BedCsv.Parse("beds.csv", "\uFEFFbed_profile_code;total;occupied;free;reported_at\r\n\"101\";40;31;7;2026-11-23 07:30\r\n\r\n", Now);

        var count = Assert.Single(counts);
        Assert.Equal("101", count.ProfileCode);
        Assert.Equal(new DateTimeOffset(2026, 11, 23, 7, 30, 0, TimeSpan.FromHours(5)), count.ReportedAt);
    }

    [Fact]
    public void Reads_dotted_dates_as_day_month_year_as_russian_and_kazakh_locales_write_them()
    {
        var counts = BedCsv.Parse("beds.csv", "bed_profile_code;total;occupied;free;reported_at\r\n101;40;31;7;05.11.2026 08:00\r\n", Now);

        Assert.Equal(new DateTimeOffset(2026, 11, 5, 8, 0, 0, TimeSpan.FromHours(5)), Assert.Single(counts).ReportedAt);
    }

    [Theory]
    [InlineData("bed_profile_code,total,occupied\n101,1,1\n", "line 1", "free", "required column is missing")]
    [InlineData("bed_profile_code,total,occupied,free,beds\n101,1,1,0,1\n", "line 1", "beds", "unknown column")]
    [InlineData("bed_profile_code,total,occupied,free\n", "line 2", "row", "no bed profiles")]
    [InlineData("bed_profile_code,total,occupied,free\n101,10,5,5\n101,10,5,5\n", "line 3", "bed_profile_code", "already appears on line 2")]
    [InlineData("bed_profile_code,total,occupied,free\n101,10,5,5\n1 03,10,5,5\n", "line 3", "bed_profile_code", "is not a bed-profile code")]
    [InlineData("bed_profile_code,total,occupied,free\n101,ten,5,5\n", "line 2", "total", "'ten' is not a whole number")]
    [InlineData("bed_profile_code,total,occupied,free\n101,-1,0,0\n", "line 2", "total", "-1 is outside 0..100000")]
    [InlineData("bed_profile_code,total,occupied,free\n101,10,11,0\n", "line 2", "occupied", "more than total (10)")]
    [InlineData("bed_profile_code,total,occupied,free\n101,10,5,6\n", "line 2", "free", "more than total - occupied (5)")]
    [InlineData("bed_profile_code,total,occupied,free,free_male,free_female\n101,10,5,5,3,3\n", "line 2", "free_male", "more than free (5)")]
    [InlineData("bed_profile_code,total,occupied,free\n101,10,5\n", "line 2", "row", "has 3 fields, the header has 4")]
    [InlineData("bed_profile_code,total,occupied,free,reported_at\n101,10,5,5,yesterday\n", "line 2", "reported_at", "not an ISO 8601 time")]
    [InlineData("bed_profile_code,total,occupied,free,reported_at\n101,10,5,5,11/05/2026 08:00\n", "line 2", "reported_at", "a date with slashes")]
    [InlineData("bed_profile_code,total,occupied,free,reported_at\n101,10,5,5,2026-11-24T09:00:00+05:00\n", "line 2", "reported_at", "in the future")]
    [InlineData("bed_profile_code,total,occupied,free\n101,10,5,\"5\n", "line 2", "row", "quoted field is not closed")]
    public void Rejects_the_whole_file_naming_line_field_and_reason(string text, string location, string field, string reason)
    {
        var error = Assert.Throws<InputException>(() => BedCsv.Parse("beds.csv", text, Now));

        Assert.Equal("beds.csv", error.File);
        Assert.Equal(location, error.Location);
        Assert.Equal(field, error.Field);
        Assert.Contains(reason, error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Rejects_a_file_with_no_header()
    {
        var error = Assert.Throws<InputException>(() => BedCsv.Parse("beds.csv", "", Now));

        Assert.Equal(("line 1", "header"), (error.Location, error.Field));
    }
}
