using System.Buffers;
using System.Buffers.Binary;
using Google.Protobuf;

namespace BedBureau.Wire;

/// <summary>What <see cref="MessageFraming.TryRead"/> found in the buffer.</summary>
public enum FrameReadResult
{
    /// <summary>No whole message yet: read more.</summary>
    Incomplete,

    /// <summary>A whole message, removed from the buffer.</summary>
    Message,

    /// <summary>The length prefix exceeds the receive limit; the body was not read.</summary>
    TooLarge,
}

/// <summary>
/// Length-Prefixed-Message framing (PROTOCOL-HTTP2.md): a compressed flag byte, a 4-byte
/// big-endian length, then the message.
/// </summary>
public static class MessageFraming
{
    public const int HeaderSize = 5;

    /// <summary>Reads one framed message from the start of <paramref name="buffer"/>.</summary>
    /// <param name="length">The declared length (also set when <see cref="FrameReadResult.TooLarge"/>).</param>
    public static FrameReadResult TryRead(
        ref ReadOnlySequence<byte> buffer,
        int maxMessageSize,
        out bool compressed,
        out ReadOnlySequence<byte> message,
        out long length)
    {
        compressed = false;
        message = default;
        length = 0;
        if (buffer.Length < HeaderSize)
        {
            return FrameReadResult.Incomplete;
        }

        Span<byte> header = stackalloc byte[HeaderSize];
        buffer.Slice(0, HeaderSize).CopyTo(header);
        compressed = header[0] != 0;
        length = BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
        if (length > maxMessageSize)
        {
            return FrameReadResult.TooLarge;
        }

        if (buffer.Length - HeaderSize < length)
        {
            return FrameReadResult.Incomplete;
        }

        message = buffer.Slice(HeaderSize, length);
        buffer = buffer.Slice(message.End);
        return FrameReadResult.Message;
    }

    /// <summary>Writes a message with its prefix, serialized straight into the writer.</summary>
    public static void Write(IBufferWriter<byte> writer, IMessage message)
    {
        var size = message.CalculateSize();
        var span = writer.GetSpan(HeaderSize + size);
        span[0] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)size);
        message.WriteTo(span.Slice(HeaderSize, size));
        writer.Advance(HeaderSize + size);
    }

    /// <summary>Writes a gzip-compressed message with its prefix (compressed flag set).</summary>
    public static void WriteCompressed(IBufferWriter<byte> writer, IMessage message)
    {
        var size = message.CalculateSize();
        var plain = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            message.WriteTo(plain.AsSpan(0, size));
            var compressed = GzipCodec.Compress(plain.AsSpan(0, size));
            var span = writer.GetSpan(HeaderSize + compressed.Length);
            span[0] = 1;
            BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)compressed.Length);
            compressed.CopyTo(span[HeaderSize..]);
            writer.Advance(HeaderSize + compressed.Length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(plain);
        }
    }

    /// <summary>The framed bytes of a message, for clients that send one buffer.</summary>
    public static byte[] ToFramedBytes(IMessage message, bool compress)
    {
        var writer = new ArrayBufferWriter<byte>();
        if (compress)
        {
            WriteCompressed(writer, message);
        }
        else
        {
            Write(writer, message);
        }

        return writer.WrittenSpan.ToArray();
    }
}
