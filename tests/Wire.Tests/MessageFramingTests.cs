using System.Buffers;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace BedBureau.Wire.Tests;

public sealed class MessageFramingTests
{
    private static readonly StringValue Message = new() { Value = "Алматы, койка 42" };

    [Fact]
    public void Write_puts_an_uncompressed_flag_and_the_big_endian_length_before_the_message()
    {
        var writer = new ArrayBufferWriter<byte>();

        MessageFraming.Write(writer, Message);

        var bytes = writer.WrittenSpan.ToArray();
        var size = Message.CalculateSize();
        Assert.Equal(MessageFraming.HeaderSize + size, bytes.Length);
        Assert.Equal(new byte[] { 0, 0, 0, 0, (byte)size }, bytes[..5]);
        Assert.Equal(Message.ToByteArray(), bytes[5..]);
    }

    [Fact]
    public void Empty_message_is_a_prefix_alone()
    {
        Assert.Equal(new byte[] { 0, 0, 0, 0, 0 }, MessageFraming.ToFramedBytes(new Empty(), compress: false));
    }

    [Fact]
    public void Length_above_255_uses_every_prefix_byte_big_endian()
    {
        var large = new BytesValue { Value = ByteString.CopyFrom(new byte[70_000]) };

        var bytes = MessageFraming.ToFramedBytes(large, compress: false);

        var size = large.CalculateSize();
        Assert.Equal(new byte[] { 0, (byte)(size >> 24), (byte)(size >> 16), (byte)(size >> 8), (byte)size }, bytes[..5]);
    }

    [Fact]
    public void TryRead_returns_a_written_message_and_consumes_it()
    {
        var buffer = new ReadOnlySequence<byte>(MessageFraming.ToFramedBytes(Message, compress: false));

        var result = MessageFraming.TryRead(ref buffer, 1024, out var compressed, out var payload, out var length);

        Assert.Equal(FrameReadResult.Message, result);
        Assert.False(compressed);
        Assert.Equal(Message.CalculateSize(), length);
        Assert.Equal(Message, StringValue.Parser.ParseFrom(payload));
        Assert.True(buffer.IsEmpty);
    }

    [Fact]
    public void TryRead_reads_consecutive_messages_one_at_a_time()
    {
        var second = new StringValue { Value = "second" };
        var buffer = new ReadOnlySequence<byte>([.. MessageFraming.ToFramedBytes(Message, false), .. MessageFraming.ToFramedBytes(second, false)]);

        Assert.Equal(FrameReadResult.Message, MessageFraming.TryRead(ref buffer, 1024, out _, out var first, out _));
        Assert.Equal(Message, StringValue.Parser.ParseFrom(first));
        Assert.Equal(FrameReadResult.Message, MessageFraming.TryRead(ref buffer, 1024, out _, out var next, out _));
        Assert.Equal(second, StringValue.Parser.ParseFrom(next));
        Assert.True(buffer.IsEmpty);
    }

    [Fact]
    public void TryRead_reads_a_message_split_across_segments_even_inside_the_prefix()
    {
        var bytes = MessageFraming.ToFramedBytes(Message, compress: false);
        var buffer = SequenceSegments.Split(bytes, 2, 7, 9);

        Assert.Equal(FrameReadResult.Message, MessageFraming.TryRead(ref buffer, 1024, out _, out var payload, out _));
        Assert.Equal(Message, StringValue.Parser.ParseFrom(payload));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(6)]
    public void TryRead_of_an_incomplete_frame_asks_for_more_and_leaves_the_buffer(int available)
    {
        var bytes = MessageFraming.ToFramedBytes(Message, compress: false);
        Assert.True(available < bytes.Length);
        var buffer = new ReadOnlySequence<byte>(bytes, 0, available);

        Assert.Equal(FrameReadResult.Incomplete, MessageFraming.TryRead(ref buffer, 1024, out _, out _, out _));
        Assert.Equal(available, buffer.Length);
    }

    [Fact]
    public void TryRead_refuses_a_declared_length_over_the_limit_from_the_prefix_alone()
    {
        // Only the prefix: the body is never needed to refuse it.
        var buffer = new ReadOnlySequence<byte>(new byte[] { 0, 0x10, 0, 0, 0 });

        var result = MessageFraming.TryRead(ref buffer, 4 * 1024 * 1024, out _, out _, out var length);

        Assert.Equal(FrameReadResult.TooLarge, result);
        Assert.Equal(0x10000000, length);
    }

    [Fact]
    public void TryRead_accepts_a_message_exactly_at_the_limit()
    {
        var bytes = MessageFraming.ToFramedBytes(Message, compress: false);
        var buffer = new ReadOnlySequence<byte>(bytes);

        Assert.Equal(FrameReadResult.Message, MessageFraming.TryRead(ref buffer, Message.CalculateSize(), out _, out _, out _));
    }

    [Fact]
    public void TryRead_reports_the_length_of_a_prefix_above_int_max()
    {
        var buffer = new ReadOnlySequence<byte>(new byte[] { 0, 0xFF, 0xFF, 0xFF, 0xFF });

        Assert.Equal(FrameReadResult.TooLarge, MessageFraming.TryRead(ref buffer, int.MaxValue, out _, out _, out var length));
        Assert.Equal(uint.MaxValue, length);
    }

    [Fact]
    public void Compressed_frame_has_the_flag_set_and_gzip_inside()
    {
        var large = new BytesValue { Value = ByteString.CopyFrom(new byte[10_000]) };
        var buffer = new ReadOnlySequence<byte>(MessageFraming.ToFramedBytes(large, compress: true));

        Assert.Equal(FrameReadResult.Message, MessageFraming.TryRead(ref buffer, 1 << 20, out var compressed, out var payload, out var length));

        Assert.True(compressed);
        Assert.True(length < 10_000, $"compressed to {length} bytes");
        Assert.True(GzipCodec.TryDecompress(payload, 1 << 20, out var plain));
        Assert.Equal(large, BytesValue.Parser.ParseFrom(plain));
    }
}
