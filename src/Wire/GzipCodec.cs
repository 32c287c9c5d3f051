using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;

namespace BedBureau.Wire;

/// <summary>gzip message compression (grpc/grpc doc/compression.md).</summary>
public static class GzipCodec
{
    public static byte[] Compress(ReadOnlySpan<byte> data)
    {
        using var output = new MemoryStream(data.Length / 2 + 32);
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }

    /// <summary>
    /// Decompresses at most <paramref name="maxSize"/> bytes; returns false when the data is
    /// larger (RESOURCE_EXHAUSTED) and throws <see cref="InvalidDataException"/> when corrupt.
    /// </summary>
    public static bool TryDecompress(ReadOnlySequence<byte> data, int maxSize, out byte[] result)
    {
        using var input = new ReadOnlySequenceStream(data);
        using var gzip = new GZipStream(input, CompressionMode.Decompress);
        using var output = new MemoryStream();
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int read;
            while ((read = gzip.Read(buffer, 0, buffer.Length)) > 0)
            {
                if (output.Length + read > maxSize)
                {
                    result = [];
                    return false;
                }

                output.Write(buffer, 0, read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        result = output.ToArray();

        // GZipStream takes input that stops early as the end of the data, and checks the CRC32
        // and size only when they arrive: a truncated message would pass as a shorter one.
        // RFC 1952: the member ends with CRC32 and ISIZE (little-endian) of what it holds.
        if (data.Length == 0 && result.Length == 0)
        {
            // Nothing at all: what GZipStream itself writes for an empty message.
            return true;
        }

        if (data.Length < 18)
        {
            throw new InvalidDataException("The gzip data is truncated.");
        }

        Span<byte> trailer = stackalloc byte[8];
        data.Slice(data.Length - 8).CopyTo(trailer);
        if (BinaryPrimitives.ReadUInt32LittleEndian(trailer) != Crc32(result) || BinaryPrimitives.ReadUInt32LittleEndian(trailer[4..]) != (uint)result.Length)
        {
            throw new InvalidDataException("The gzip data is truncated.");
        }

        return true;
    }

    private static readonly uint[] CrcTable = BuildCrcTable();

    private static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            }

            table[n] = c;
        }

        return table;
    }

    /// <summary>CRC-32 as gzip uses it (RFC 1952 8).</summary>
    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return crc ^ 0xFFFFFFFFu;
    }

    private sealed class ReadOnlySequenceStream(ReadOnlySequence<byte> sequence) : Stream
    {
        private ReadOnlySequence<byte> _remaining = sequence;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var count = (int)Math.Min(buffer.Length, _remaining.Length);
            _remaining.Slice(0, count).CopyTo(buffer);
            _remaining = _remaining.Slice(count);
            return count;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
