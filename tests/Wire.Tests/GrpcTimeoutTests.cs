namespace BedBureau.Wire.Tests;

public sealed class GrpcTimeoutTests
{
    [Theory]
    [InlineData("1H", 36_000_000_000L)]
    [InlineData("2M", 1_200_000_000L)]
    [InlineData("30S", 300_000_000L)]
    [InlineData("100m", 1_000_000L)]
    [InlineData("250u", 2_500L)]
    [InlineData("300n", 3L)]
    [InlineData("99999999S", 999_999_990_000_000L)]
    [InlineData("00000001S", 10_000_000L)]
    public void Parses_every_unit(string value, long ticks)
    {
        Assert.True(GrpcTimeout.TryParse(value, out var timeout));
        Assert.Equal(TimeSpan.FromTicks(ticks), timeout);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("S")]
    [InlineData("10")]
    [InlineData("10s")]
    [InlineData("10h")]
    [InlineData("-1S")]
    [InlineData("1.5S")]
    [InlineData(" 1S")]
    [InlineData("123456789S")]
    public void Refuses_what_the_grammar_does_not_allow(string? value)
    {
        Assert.False(GrpcTimeout.TryParse(value, out _));
    }

    [Theory]
    [InlineData(15L, "2u")]
    [InlineData(10_000L, "1000u")]
    [InlineData(999_999_990L, "99999999u")]
    [InlineData(1_000_000_000L, "100000m")]
    [InlineData(1_000_000_001L, "100001m")]
    public void Formats_in_the_finest_unit_that_fits_8_digits_rounding_up(long ticks, string expected)
    {
        Assert.Equal(expected, GrpcTimeout.Format(TimeSpan.FromTicks(ticks)));
    }

    [Fact]
    public void Formats_a_timeout_too_long_for_microseconds_in_a_coarser_unit()
    {
        Assert.Equal("17280000S", GrpcTimeout.Format(TimeSpan.FromDays(200)));
    }

    [Fact]
    public void Formats_an_expired_deadline_as_the_shortest_timeout()
    {
        Assert.Equal("1n", GrpcTimeout.Format(TimeSpan.Zero));
        Assert.Equal("1n", GrpcTimeout.Format(TimeSpan.FromSeconds(-5)));
    }

    [Fact]
    public void Formats_beyond_the_largest_encodable_as_the_largest()
    {
        Assert.Equal("99999999H", GrpcTimeout.Format(TimeSpan.MaxValue));
    }

    [Theory]
    [InlineData(1L)]
    [InlineData(9_999L)]
    [InlineData(123_456_789L)]
    [InlineData(36_000_000_001L)]
    [InlineData(8_640_000_000_000L)]
    public void Round_trip_never_shortens_the_timeout(long ticks)
    {
        var timeout = TimeSpan.FromTicks(ticks);

        Assert.True(GrpcTimeout.TryParse(GrpcTimeout.Format(timeout), out var parsed));

        Assert.True(parsed >= timeout, $"{timeout} became {parsed}");
        // Within one unit of the 8-digit encoding: at most a millionth plus a microsecond.
        Assert.True(parsed - timeout <= TimeSpan.FromTicks(10 + ticks / 1_000_000), $"{timeout} became {parsed}");
    }
}
