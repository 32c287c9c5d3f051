namespace BedBureau.Wire.Tests;

public sealed class PercentEncodingTests
{
    [Fact]
    public void Printable_ascii_is_sent_as_it_is()
    {
        const string text = "Bed profile 'cardio-01' not found: ~{[ok]}!";

        Assert.Same(text, PercentEncoding.Encode(text));
    }

    [Theory]
    [InlineData("100%", "100%25")]
    [InlineData("a\tb\r\nc", "a%09b%0D%0Ac")]
    [InlineData("койка", "%D0%BA%D0%BE%D0%B9%D0%BA%D0%B0")]
    [InlineData("\u263a \U0001F608", "%E2%98%BA %F0%9F%98%88")]
    [InlineData("\u007f", "%7F")]
    public void Encodes_utf8_bytes_outside_printable_ascii_and_the_percent_sign(string text, string wire)
    {
        Assert.Equal(wire, PercentEncoding.Encode(text));
        Assert.Equal(text, PercentEncoding.Decode(wire));
    }

    [Fact]
    public void The_interop_special_status_message_round_trips()
    {
        const string message = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n";

        Assert.Equal(message, PercentEncoding.Decode(PercentEncoding.Encode(message)));
    }

    [Theory]
    [InlineData("%41%62", "Ab")]
    [InlineData("%e2%98%ba", "\u263a")]
    [InlineData("100%", "100%")]
    [InlineData("%4", "%4")]
    [InlineData("%zz%41", "%zzA")]
    [InlineData("50% off", "50% off")]
    public void Decodes_leniently_keeping_malformed_sequences(string wire, string text)
    {
        Assert.Equal(text, PercentEncoding.Decode(wire));
    }

    [Fact]
    public void Invalid_utf8_decodes_to_replacement_characters_not_an_exception()
    {
        Assert.Equal("a\uFFFDb", PercentEncoding.Decode("a%FFb"));
    }
}
