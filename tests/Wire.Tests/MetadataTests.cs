namespace BedBureau.Wire.Tests;

public sealed class MetadataTests
{
    [Fact]
    public void Keys_are_lower_cased_and_found_case_insensitively()
    {
        var metadata = new Metadata { { "X-Request-Id", "abc" } };

        Assert.Equal("x-request-id", metadata.Single().Key);
        Assert.Equal("abc", metadata.GetValue("X-REQUEST-ID"));
    }

    [Fact]
    public void Get_returns_the_last_value_of_a_repeated_key()
    {
        var metadata = new Metadata { { "k", "first" }, { "k", "second" } };

        Assert.Equal(2, metadata.Count);
        Assert.Equal("second", metadata.GetValue("k"));
    }

    [Theory]
    [InlineData("has space")]
    [InlineData("colon:")]
    [InlineData("ключ")]
    [InlineData("")]
    public void Key_with_a_character_not_allowed_in_header_names_is_refused(string key)
    {
        Assert.ThrowsAny<ArgumentException>(() => new Metadata { { key, "v" } });
    }

    [Fact]
    public void Binary_value_needs_a_bin_key()
    {
        Assert.Throws<ArgumentException>(() => new Metadata { { "trace", new byte[] { 1 } } });
    }

    [Theory]
    [InlineData(new byte[] { 0xAB }, "qw")]
    [InlineData(new byte[] { 0xAB, 0xAB }, "q6s")]
    [InlineData(new byte[] { 0xAB, 0xAB, 0xAB }, "q6ur")]
    [InlineData(new byte[] { }, "")]
    public void Binary_values_go_out_as_unpadded_base64(byte[] value, string wire)
    {
        var entry = new Metadata { { "x-data-bin", value } }.Single();

        Assert.True(entry.IsBinary);
        Assert.Equal(wire, entry.WireValue);
    }

    [Theory]
    [InlineData("qw", new byte[] { 0xAB })]
    [InlineData("qw==", new byte[] { 0xAB })]
    [InlineData("q6s", new byte[] { 0xAB, 0xAB })]
    [InlineData("q6s=", new byte[] { 0xAB, 0xAB })]
    [InlineData("q6ur", new byte[] { 0xAB, 0xAB, 0xAB })]
    [InlineData("AP/+EIA", new byte[] { 0x00, 0xFF, 0xFE, 0x10, 0x80 })]
    [InlineData("", new byte[] { })]
    public void Binary_values_decode_with_or_without_padding(string wire, byte[] value)
    {
        Assert.True(Metadata.TryDecodeBinary(wire, out var decoded));
        Assert.Equal(value, decoded);
    }

    [Theory]
    [InlineData("q")]
    [InlineData("qwerq")]
    [InlineData("q!==")]
    [InlineData("q=w=")]
    public void Malformed_base64_is_refused(string wire)
    {
        Assert.False(Metadata.TryDecodeBinary(wire, out _));
    }

    [Fact]
    public void Every_byte_value_round_trips()
    {
        var all = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        var entry = new Metadata { { "all-bin", all } }.Single();

        Assert.DoesNotContain("=", entry.WireValue, StringComparison.Ordinal);
        Assert.True(Metadata.TryDecodeBinary(entry.WireValue, out var decoded));
        Assert.Equal(all, decoded);
    }
}
