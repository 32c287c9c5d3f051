using System.Buffers;
using System.IO.Compression;

namespace BedBureau.Wire.Tests;

public sealed class GzipCodecTests
{
    private static readonly byte[] Data = Enumerable.Range(0, 50_000).Select(i => (byte)(i % 7)).ToArray();

    [Fact]
    public void Compressed_data_is_gzip_any_decoder_reads()
    {
        var compressed = GzipCodec.Compress(Data);

        Assert.Equal(new byte[] { 0x1F, 0x8B }, compressed[..2]);
        using var gzip = new GZipStream(new MemoryStream(compressed), CompressionMode.Decompress);
        using var plain = new MemoryStream();
        gzip.CopyTo(plain);
        Assert.Equal(Data, plain.ToArray());
    }

    [Fact]
    public void Decompress_round_trips_from_a_multi_segment_sequence()
    {
        var compressed = GzipCodec.Compress(Data);

        Assert.True(GzipCodec.TryDecompress(SequenceSegments.Split(compressed, 1, 10, compressed.Length / 2), Data.Length, out var plain));
        Assert.Equal(Data, plain);
    }

    [Fact]
    public void Decompress_of_empty_data_gives_empty()
    {
        Assert.True(GzipCodec.TryDecompress(new ReadOnlySequence<byte>(GzipCodec.Compress([])), 10, out var plain));
        Assert.Empty(plain);
    }

    [Fact]
    public void Decompress_stops_at_the_limit_so_a_gzip_bomb_is_refused()
    {
        // 50 MB of zeros compress to ~50 KB; the limit is judged on the decompressed size.
        var bomb = GzipCodec.Compress(new byte[50 * 1024 * 1024]);

        Assert.False(GzipCodec.TryDecompress(new ReadOnlySequence<byte>(bomb), 4 * 1024 * 1024, out _));
    }

    [Fact]
    public void Decompress_one_byte_over_the_limit_is_refused()
    {
        var compressed = new ReadOnlySequence<byte>(GzipCodec.Compress(Data));

        Assert.False(GzipCodec.TryDecompress(compressed, Data.Length - 1, out _));
        Assert.True(GzipCodec.TryDecompress(compressed, Data.Length, out _));
    }

    [Fact]
    public void Corrupt_data_throws_invalid_data()
    {
        Assert.Throws<InvalidDataException>(() => GzipCodec.TryDecompress(new ReadOnlySequence<byte>([1, 2, 3, 4, 5, 6, 7, 8]), 1000, out _));
    }
}
