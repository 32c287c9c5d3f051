using BedBureau.BedGrain.Domain;

namespace BedBureau.BedGrain.Tests;

public sealed class HospitalizationCodesTests
{
    [Fact]
    public void The_bureaus_example_code_formats_from_its_parts()
    {
        // 72S in base 36 = 7·1296 + 2·36 + 28 = 9172.
        Assert.Equal("61.01W9.321.72S", HospitalizationCodes.Format("61", new BedGrainKey("01W9", "321"), 9172));
    }

    [Fact]
    public void A_code_names_the_grain_that_holds_it()
    {
        Assert.Equal(new BedGrainKey("01W9", "321"), HospitalizationCodes.Parse("61.01W9.321.72S"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("61.01W9.321")]
    [InlineData("61.01W9..72S")]
    [InlineData("61.01W9.321.72S.1")]
    [InlineData("61.01W9.321.7 2")]
    public void A_malformed_code_is_invalid_and_names_the_field(string code)
    {
        var error = Assert.Throws<DomainException>(() => HospitalizationCodes.Parse(code));

        Assert.Equal(("hospitalization_code", DomainErrorKind.InvalidArgument), (error.Field, error.Kind));
    }

    [Fact]
    public void Sequences_give_distinct_codes()
    {
        var key = new BedGrainKey("01W9", "321");

        var codes = Enumerable.Range(1, 50_000).Select(n => HospitalizationCodes.Format("61", key, n)).ToHashSet();

        Assert.Equal(50_000, codes.Count);
    }

    [Fact]
    public void Access_keys_are_ten_crockford_characters_in_two_groups()
    {
        var key = AccessKeys.Generate();

        Assert.Matches("^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$", key);
    }

    [Fact]
    public void Access_keys_do_not_repeat_and_use_every_symbol()
    {
        var keys = Enumerable.Range(0, 20_000).Select(_ => AccessKeys.Generate()).ToArray();

        // 50 random bits: a repeat among 20,000 has probability ~2e-7.
        Assert.Equal(keys.Length, keys.Distinct().Count());
        Assert.Equal(32, keys.SelectMany(k => k.Replace("-", "", StringComparison.Ordinal)).Distinct().Count());
        for (var position = 0; position < 11; position++)
        {
            if (position != 5)
            {
                Assert.True(keys.Select(k => k[position]).Distinct().Count() == 32, $"position {position} does not vary over the whole alphabet");
            }
        }
    }

    [Fact]
    public void A_key_read_aloud_matches_however_it_is_typed()
    {
        var hash = AccessKeys.Hash("K7Q40-9XD1F");

        Assert.True(AccessKeys.Matches("k7q4o 9xdlf", hash));
        Assert.True(AccessKeys.Matches("K7Q409XDIF", hash));
        Assert.False(AccessKeys.Matches("K7Q40-9XD1G", hash));
        Assert.False(AccessKeys.Matches(null, hash));
    }

    [Fact]
    public void Only_a_hash_of_the_key_is_kept()
    {
        var key = AccessKeys.Generate();

        var hash = AccessKeys.Hash(key);

        Assert.Equal(32, hash.Length);
        Assert.NotEqual(System.Text.Encoding.ASCII.GetBytes(AccessKeys.Normalize(key)), hash);
    }
}
