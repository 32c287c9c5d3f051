using BedBureau.BedGrain.Domain;

namespace BedBureau.BedGrain.Tests;

public sealed class IdentifiersTests
{
    [Theory]
    [InlineData("850101310002")]
    [InlineData("000315510002")]
    [InlineData("700517310004")]
    public void Check_digit_with_the_first_weights_is_valid(string iin)
    {
        Assert.True(Identifiers.HasValidCheckDigit(iin));
        Assert.False(Identifiers.HasValidCheckDigit(iin[..11] + (char)('0' + (iin[11] - '0' + 1) % 10)));
    }

    [Fact]
    public void When_the_first_sum_gives_ten_the_second_weights_decide()
    {
        // 9,0,0,1,0,1,3,3,1,8,0 · 1..11 = 120 ≡ 10 (mod 11); with 3..11,1,2: 161 ≡ 7.
        Assert.True(Identifiers.HasValidCheckDigit("900101331807"));
        Assert.False(Identifiers.HasValidCheckDigit("900101331800"));
    }

    [Fact]
    public void When_both_sums_give_ten_no_check_digit_makes_the_number_valid()
    {
        Assert.All(Enumerable.Range(0, 10), digit => Assert.False(Identifiers.HasValidCheckDigit($"90010133187{digit}")));
    }

    [Theory]
    [InlineData("850101110009", 1885)]
    [InlineData("850101310002", 1985)]
    [InlineData("000315510002", 2000)]
    public void The_seventh_digit_gives_the_century(string prefix, int year)
    {
        var iin = WithCheckDigit(prefix[..11]);

        Assert.Equal(year, Identifiers.ParseIin(iin).Year);
    }

    [Theory]
    [InlineData("8513013")] // month 13
    [InlineData("8502303")] // 30 February
    [InlineData("8501017")] // century digit 7
    public void A_number_that_is_not_a_birth_date_is_invalid(string head)
    {
        var iin = WithCheckDigit(head + "1000");

        var error = Assert.Throws<DomainException>(() => Identifiers.ParseIin(iin));

        Assert.Equal(("patient_iin", "INVALID_IIN", DomainErrorKind.InvalidArgument), (error.Field, error.Reason, error.Kind));
    }

    [Fact]
    public void Bin_uses_the_same_check_digit_and_names_its_field()
    {
        Identifiers.ValidateBin("000315510002", "referring_organization_bin");
        var error = Assert.Throws<DomainException>(() => Identifiers.ValidateBin("000315510003", "referring_organization_bin"));

        Assert.Equal(("referring_organization_bin", "INVALID_BIN"), (error.Field, error.Reason));
    }

    [Theory]
    [InlineData(2008, 5, 17, 2026, 5, 16, 17)]
    [InlineData(2008, 5, 17, 2026, 5, 17, 18)]
    // Civil Code: a term in years ending on a date the month lacks ends on its last day.
    [InlineData(2008, 2, 29, 2026, 2, 27, 17)]
    [InlineData(2008, 2, 29, 2026, 2, 28, 18)]
    public void Age_counts_whole_years_on_the_date(int by, int bm, int bd, int y, int m, int d, int age)
    {
        Assert.Equal(age, Identifiers.AgeOn(new DateOnly(by, bm, bd), new DateOnly(y, m, d)));
    }

    private static string WithCheckDigit(string elevenDigits)
    {
        for (var digit = 0; digit < 10; digit++)
        {
            if (Identifiers.HasValidCheckDigit(elevenDigits + digit))
            {
                return elevenDigits + digit;
            }
        }

        // No digit fits (both weighted sums are 10): try the next serial.
        return WithCheckDigit(elevenDigits[..7] + ((int.Parse(elevenDigits[7..], System.Globalization.CultureInfo.InvariantCulture) + 1) % 10000).ToString("D4", System.Globalization.CultureInfo.InvariantCulture));
    }
}
