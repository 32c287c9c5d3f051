using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using BedBureau.InteropHost.Testing;
using BedBureau.Wire;
using Google.Protobuf;

namespace BedBureau.GrpcServer.Tests.Fuzz;

/// <summary>What a fuzz case may be answered with.</summary>
internal sealed record Expectation(StatusCode[] Statuses, bool MayReset = false, int HttpStatus = 200, int? ResponsePayloadSize = null, int? AggregatedSize = null, string? MessageContains = null)
{
    public static Expectation Of(params StatusCode[] statuses) => new(statuses);
}

/// <summary>One gRPC request, built from the fuzz seed and its index alone (reproducible by index).</summary>
internal sealed record FuzzCase(long Index, string Kind, string Path, string? ContentType, List<KeyValuePair<string, string>> Headers, byte[] Body, Expectation Expect)
{
    public override string ToString() => $"case {Index} ({Kind}) {Path} body={Body.Length}B headers=[{string.Join(", ", Headers.Select(h => $"{h.Key}:{Trim(h.Value)}"))}] head={Convert.ToHexString(Body.AsSpan(0, Math.Min(32, Body.Length)))}";

    private static string Trim(string value) => value.Length > 40 ? $"{value[..40]}...({value.Length})" : value;
}

/// <summary>
/// The mutations the issue lists, against grpc.testing.TestService: truncated frames, a length
/// prefix larger than the body, 4 GB prefixes, the compressed flag without an encoding, corrupt
/// gzip, invalid protobuf, unknown and repeated fields, deep nesting, huge strings, invalid
/// UTF-8, bad grpc-timeout values, large metadata. Each case carries the status it must get.
/// </summary>
internal static class FuzzCases
{
    public const string Service = "/grpc.testing.TestService/";
    public const int MaxReceive = GrpcProtocol.DefaultMaxReceiveMessageSize;

    private static readonly (string Kind, int Weight, Func<Random, FuzzCase> Make)[] Kinds =
    [
        ("valid-empty", 6, ValidEmpty),
        ("valid-unary", 10, ValidUnary),
        ("truncated-frame", 8, Truncated),
        ("prefix-longer-than-body", 8, PrefixLongerThanBody),
        ("prefix-over-limit", 5, PrefixOverLimit),
        ("compressed-flag-without-encoding", 5, CompressedWithoutEncoding),
        ("corrupt-gzip", 6, CorruptGzip),
        ("gzip-bomb", 1, GzipBomb),
        ("valid-gzip", 3, ValidGzip),
        ("invalid-protobuf", 8, InvalidProtobuf),
        ("unknown-and-repeated-fields", 8, UnknownAndRepeatedFields),
        ("deep-nesting", 4, DeepNesting),
        ("huge-string", 1, HugeString),
        ("invalid-utf8", 5, InvalidUtf8),
        ("bad-grpc-timeout", 6, BadTimeout),
        ("large-metadata", 4, LargeMetadata),
        ("bad-content-type", 2, BadContentType),
        ("unknown-method", 2, UnknownMethod),
        ("extra-message", 3, ExtraMessage),
        ("unsupported-encoding", 2, UnsupportedEncoding),
        ("random-body", 6, RandomBody),
        ("flipped-bytes", 6, FlippedBytes),
        ("client-streaming", 4, ClientStreaming),
    ];

    private static readonly int TotalWeight = Kinds.Sum(k => k.Weight);

    public static FuzzCase Make(int seed, long index)
    {
        var random = new Random(HashCode.Combine(seed, index));
        var pick = random.Next(TotalWeight);
        foreach (var (kind, weight, make) in Kinds)
        {
            if (pick < weight)
            {
                return make(random) with { Index = index, Kind = kind };
            }

            pick -= weight;
        }

        throw new InvalidOperationException("unreachable");
    }

    private static FuzzCase Case(string method, byte[] body, Expectation expect, params KeyValuePair<string, string>[] headers) =>
        new(0, "", Service + method, GrpcProtocol.ContentType, [.. headers], body, expect);

    private static KeyValuePair<string, string> Header(string key, string value) => new(key, value);

    private static FuzzCase ValidEmpty(Random r) => Case("EmptyCall", Frame(new Empty().ToByteArray()), Expectation.Of(StatusCode.OK));

    private static FuzzCase ValidUnary(Random r)
    {
        var request = new SimpleRequest { ResponseSize = r.Next(0, 2048), Payload = new Payload { Body = ByteString.CopyFrom(Bytes(r, r.Next(0, 512))) } };
        var code = r.Next(4) == 0 ? PickCode(r) : 0;
        if (code != 0)
        {
            request.ResponseStatus = new EchoStatus { Code = code, Message = RandomText(r, r.Next(0, 64)) };
        }

        // A code outside 0..16 is not a gRPC status: clients must treat it as UNKNOWN (statuscodes.md).
        var expected = code == 0 ? StatusCode.OK : code is > 0 and <= 16 ? (StatusCode)code : StatusCode.Unknown;
        return Case("UnaryCall", Frame(request.ToByteArray()), new Expectation([expected], ResponsePayloadSize: code == 0 ? request.ResponseSize : null));
    }

    private static int PickCode(Random r) => r.Next(6) switch
    {
        0 => -r.Next(1, 1000),
        1 => 17 + r.Next(1000),
        _ => r.Next(1, 17),
    };

    private static FuzzCase Truncated(Random r)
    {
        var framed = Frame(SampleRequest(r).ToByteArray());
        var cut = r.Next(1, framed.Length);
        return Case("UnaryCall", framed[..cut], Expectation.Of(StatusCode.Internal));
    }

    private static FuzzCase PrefixLongerThanBody(Random r)
    {
        var payload = SampleRequest(r).ToByteArray();
        var declared = payload.Length + 1 + r.Next(r.Next(2) == 0 ? 16 : MaxReceive - payload.Length);
        return Case("UnaryCall", Frame(payload, declared: (uint)declared), Expectation.Of(StatusCode.Internal));
    }

    private static FuzzCase PrefixOverLimit(Random r)
    {
        uint declared = r.Next(3) switch
        {
            0 => uint.MaxValue,
            1 => (uint)MaxReceive + 1,
            _ => (uint)MaxReceive + 1 + (uint)r.NextInt64(uint.MaxValue - MaxReceive - 1),
        };
        var body = Frame(Bytes(r, r.Next(0, 4096)), compressed: r.Next(2) == 0, declared: declared);
        var headers = body[0] == 1 ? new[] { Header("grpc-encoding", "gzip") } : [];
        return Case("UnaryCall", body, new Expectation([StatusCode.ResourceExhausted], MayReset: true), headers);
    }

    private static FuzzCase CompressedWithoutEncoding(Random r)
    {
        var payload = r.Next(2) == 0 ? GzipCodec.Compress(SampleRequest(r).ToByteArray()) : SampleRequest(r).ToByteArray();
        var headers = r.Next(2) == 0 ? new[] { Header("grpc-encoding", "identity") } : [];
        return Case("UnaryCall", Frame(payload, compressed: true), Expectation.Of(StatusCode.Internal), headers);
    }

    private static FuzzCase CorruptGzip(Random r)
    {
        byte[] payload;
        switch (r.Next(3))
        {
            case 0:
                // (Zero bytes are not corrupt: an empty message, as GZipStream writes it.)
                payload = Bytes(r, r.Next(1, 256));
                if (payload.Length >= 2)
                {
                    payload[0] = 0x1f; // the gzip magic, so that the header parser goes further
                    payload[1] = 0x8b;
                }

                break;
            case 1:
                var whole = GzipCodec.Compress(SampleRequest(r).ToByteArray());
                payload = whole[..r.Next(1, whole.Length - 8)]; // cut before the CRC32 and size trailer
                break;
            default:
                payload = GzipCodec.Compress(SampleRequest(r).ToByteArray());
                payload[^(1 + r.Next(8))] ^= (byte)(1 + r.Next(255)); // a wrong CRC32 or length in the trailer
                break;
        }

        return Case("UnaryCall", Frame(payload, compressed: true), Expectation.Of(StatusCode.Internal), Header("grpc-encoding", "gzip"));
    }

    // A few KB that inflate past the limit: one just over it, one 64 times over.
    private static readonly byte[][] Bombs = [Bomb(MaxReceive + 1), Bomb(64 * MaxReceive)];

    private static byte[] Bomb(int size) => GzipCodec.Compress(new SimpleRequest { Payload = new Payload { Body = ByteString.CopyFrom(new byte[size]) } }.ToByteArray());

    private static FuzzCase GzipBomb(Random r) =>
        Case("UnaryCall", Frame(Bombs[r.Next(Bombs.Length)], compressed: true), new Expectation([StatusCode.ResourceExhausted], MayReset: true), Header("grpc-encoding", "gzip"));

    private static FuzzCase ValidGzip(Random r)
    {
        var request = SampleRequest(r);
        return Case("UnaryCall", Frame(GzipCodec.Compress(request.ToByteArray()), compressed: true), new Expectation([StatusCode.OK], ResponsePayloadSize: request.ResponseSize), Header("grpc-encoding", "gzip"));
    }

    private static FuzzCase InvalidProtobuf(Random r)
    {
        var valid = SampleRequest(r).ToByteArray();
        byte[] bad = r.Next(6) switch
        {
            0 => [.. valid, 0x10, 0xFF, 0xFF], // a varint that never ends
            1 => [.. valid, (byte)((1 << 3) | 6)], // wire type 6 does not exist
            2 => [.. valid, (byte)((1 << 3) | 7)], // nor does 7
            3 => [.. valid, 0x1A, 0x7F, 0x01], // a length-delimited field longer than what follows
            4 => [.. valid, 0x00, 0x01], // field number 0
            _ => [.. valid, 0xA3, 0x06], // a group (field 100) that is never closed
        };
        return Case(r.Next(2) == 0 ? "UnaryCall" : "EmptyCall", Frame(bad), Expectation.Of(StatusCode.Internal));
    }

    private static FuzzCase UnknownAndRepeatedFields(Random r)
    {
        using var stream = new MemoryStream();
        var output = new CodedOutputStream(stream);
        var size = 0;
        for (var i = r.Next(1, 12); i > 0; i--)
        {
            switch (r.Next(4))
            {
                case 0:
                    // A singular field repeated: the last one wins (encoding.md).
                    size = r.Next(0, 1024);
                    output.WriteTag(2, WireFormat.WireType.Varint);
                    output.WriteInt32(size);
                    break;
                case 1:
                    output.WriteTag(r.Next(11, 536_870_911), WireFormat.WireType.Varint);
                    output.WriteUInt64((ulong)r.NextInt64());
                    break;
                case 2:
                    output.WriteTag(r.Next(11, 536_870_911), WireFormat.WireType.LengthDelimited);
                    output.WriteBytes(ByteString.CopyFrom(Bytes(r, r.Next(0, 64))));
                    break;
                default:
                    if (r.Next(2) == 0)
                    {
                        output.WriteTag(r.Next(11, 536_870_911), WireFormat.WireType.Fixed32);
                        output.WriteFixed32((uint)r.Next());
                    }
                    else
                    {
                        output.WriteTag(r.Next(11, 536_870_911), WireFormat.WireType.Fixed64);
                        output.WriteFixed64((ulong)r.NextInt64());
                    }

                    break;
            }
        }

        output.Flush();
        var bytes = stream.ToArray();
        return Case("UnaryCall", Frame(bytes), new Expectation([StatusCode.OK], ResponsePayloadSize: size));
    }

    private static FuzzCase DeepNesting(Random r)
    {
        // Unknown groups nested inside each other: the parser must refuse past its recursion
        // limit (100) instead of overflowing the stack.
        var depth = r.Next(3) switch
        {
            0 => r.Next(1, 60),
            1 => r.Next(101, 2000),
            _ => r.Next(2000, 200_000),
        };
        var start = new byte[] { 0xA3, 0x06 }; // field 100, start group
        var end = new byte[] { 0xA4, 0x06 }; // field 100, end group
        var bytes = new byte[depth * 4];
        for (var i = 0; i < depth; i++)
        {
            start.CopyTo(bytes, i * 2);
            end.CopyTo(bytes, (depth * 2) + (i * 2));
        }

        var ok = depth < 100;
        return Case("UnaryCall", Frame(bytes), new Expectation([ok ? StatusCode.OK : StatusCode.Internal], ResponsePayloadSize: ok ? 0 : null));
    }

    private static FuzzCase HugeString(Random r)
    {
        switch (r.Next(3))
        {
            case 0:
                // A long status text comes back in grpc-message: the server must keep the
                // header within what clients accept (grpc-core's default limit is 8 KB).
                var code = r.Next(1, 17);
                var request = new SimpleRequest { ResponseStatus = new EchoStatus { Code = code, Message = RandomText(r, r.Next(8 * 1024, 128 * 1024)) } };
                return Case("UnaryCall", Frame(request.ToByteArray()), Expectation.Of((StatusCode)code));
            case 1:
                // Mostly up to 256 KB; one in ten up to the 4 MB limit (kept rare: the CI run is short).
                var length = r.Next(10) == 0 ? r.Next(256 * 1024, MaxReceive - 64) : r.Next(16 * 1024, 256 * 1024);
                var big = new SimpleRequest { ResponseSize = 1, Payload = new Payload { Body = ByteString.CopyFrom(Bytes(r, length)) } };
                return Case("UnaryCall", Frame(big.ToByteArray()), new Expectation([StatusCode.OK], ResponsePayloadSize: 1));
            default:
                var over = new SimpleRequest { Payload = new Payload { Body = ByteString.CopyFrom(Zeros(MaxReceive)) } };
                return Case("UnaryCall", Frame(over.ToByteArray()), new Expectation([StatusCode.ResourceExhausted], MayReset: true));
        }
    }

    private static FuzzCase InvalidUtf8(Random r)
    {
        // EchoStatus.message (field 7.2) is a proto3 string. Google.Protobuf for C# decodes invalid
        // UTF-8 leniently (each bad sequence becomes U+FFFD) where C++ and Go refuse the message:
        // either is safe, so either is accepted; what must not happen is any other outcome.
        byte[][] bad = [[0xC0, 0x80], [0xFF], [0xED, 0xA0, 0x80], [0xE2, 0x82], [0xF8, 0x88, 0x80, 0x80, 0x80], [0x80]];
        var text = (byte[])[.. Encoding.UTF8.GetBytes(RandomText(r, r.Next(0, 16))), .. bad[r.Next(bad.Length)], .. Encoding.UTF8.GetBytes(RandomText(r, r.Next(0, 16)))];
        using var stream = new MemoryStream();
        var output = new CodedOutputStream(stream);
        output.WriteTag(1, WireFormat.WireType.Varint);
        var code = r.Next(2) == 0 ? 0 : 3;
        output.WriteInt32(code);
        output.WriteTag(2, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(text));
        output.Flush();
        var status = stream.ToArray();
        var request = (byte[])[0x3A, .. Varint((ulong)status.Length), .. status];
        return Case("UnaryCall", Frame(request), new Expectation([StatusCode.Internal, code == 0 ? StatusCode.OK : StatusCode.InvalidArgument], MessageContains: code == 0 ? null : "\uFFFD"));
    }

    private static FuzzCase BadTimeout(Random r)
    {
        string[] invalid = ["", "S", "1", "-1S", "1.5S", "1s", "1h", "123456789S", "99999999999H", "1 S", " 1S", "1S ", "0x10S", "+1S", "1SS", "9223372036854775807n", "1e3m", "00000000000000001S", "1\tS"];
        if (r.Next(3) == 0)
        {
            // Valid but tiny: the call may finish first or see its deadline pass.
            var tiny = $"{r.Next(0, 100)}{"nu"[r.Next(2)]}";
            return Case("EmptyCall", Frame([]), Expectation.Of(StatusCode.OK, StatusCode.DeadlineExceeded), Header("grpc-timeout", tiny));
        }

        // An unparsable timeout is no timeout (grpc-dotnet ignores it too); "99999999H" is parsable and far.
        var value = r.Next(4) == 0 ? "99999999H" : invalid[r.Next(invalid.Length)];
        return Case("EmptyCall", Frame([]), Expectation.Of(StatusCode.OK), Header("grpc-timeout", value));
    }

    private static FuzzCase LargeMetadata(Random r)
    {
        // Within Kestrel's default limits (16 KB per field, 32 KB in all); what is over them
        // goes through raw HTTP/2 (RawHttp2Cases). Keys and values are odd on purpose: header
        // names HTTP allows but gRPC does not, -bin values that are not base64.
        var headers = new List<KeyValuePair<string, string>>();
        var budget = r.Next(1024, 24 * 1024);
        string[] oddKeys = ["x!key", "x#key", "x$y", "x'y", "x*y", "x+y", "x^y", "x`y", "x|y", "x~y", "x%y", "x&y"];
        while (budget > 0)
        {
            var key = r.Next(4) switch
            {
                0 => oddKeys[r.Next(oddKeys.Length)],
                1 => $"x-fuzz-{r.Next(1000)}-bin",
                2 => "x-grpc-test-echo-initial",
                _ => $"x-fuzz-{r.Next(1000)}",
            };
            var length = Math.Min(budget, r.Next(0, r.Next(2) == 0 ? 64 : 12 * 1024));
            var value = key.EndsWith("-bin", StringComparison.Ordinal) && r.Next(2) == 0 ? "!!not base64%%" + new string('=', r.Next(5)) : RandomAscii(r, length);
            headers.Add(Header(key, value));
            budget -= key.Length + value.Length + 32;
        }

        var request = SampleRequest(r);
        return Case("UnaryCall", Frame(request.ToByteArray()), new Expectation([StatusCode.OK], ResponsePayloadSize: request.ResponseSize), [.. headers]);
    }

    private static FuzzCase BadContentType(Random r)
    {
        string?[] types = [null, "", "application/json", "text/plain", "application/grpcx", "application/gr", "multipart/form-data"];
        return Case("EmptyCall", Frame([]), new Expectation([StatusCode.Internal], HttpStatus: 415)) with { ContentType = types[r.Next(types.Length)] };
    }

    private static FuzzCase UnknownMethod(Random r)
    {
        string[] paths = ["/grpc.testing.TestService/NoSuchMethod", "/grpc.testing.TestService/UnimplementedCall", "/nope.Service/Call", "/grpc.testing.TestService/EmptyCall/extra", "/_" + RandomAscii(r, r.Next(1, 200)).Replace('?', '_').Replace('#', '_').Replace('%', '_').Replace('\\', '_')];
        var path = paths[r.Next(paths.Length)];
        return new FuzzCase(0, "", path, GrpcProtocol.ContentType, [], Frame([]), Expectation.Of(StatusCode.Unimplemented));
    }

    private static FuzzCase ExtraMessage(Random r)
    {
        var frames = Frame(SampleRequest(r).ToByteArray()).Concat(Frame(SampleRequest(r).ToByteArray())).ToArray();
        return Case("UnaryCall", frames, Expectation.Of(StatusCode.Internal));
    }

    private static FuzzCase UnsupportedEncoding(Random r)
    {
        string[] encodings = ["br", "deflate", "snappy", "GZIP", "gzip, identity", "zstd"];
        return Case("EmptyCall", Frame([], compressed: true), Expectation.Of(StatusCode.Unimplemented), Header("grpc-encoding", encodings[r.Next(encodings.Length)]));
    }

    private static FuzzCase RandomBody(Random r)
    {
        // Any bytes: a message may happen to parse (Empty accepts any valid fields), else the
        // framing or the parser refuses it; never UNKNOWN (an exception escaped the server).
        var body = Bytes(r, r.Next(0, 300));
        return Case("EmptyCall", body, new Expectation([StatusCode.OK, StatusCode.Internal, StatusCode.ResourceExhausted], MayReset: true));
    }

    private static FuzzCase FlippedBytes(Random r)
    {
        var body = Frame(SampleRequest(r).ToByteArray());
        for (var i = r.Next(1, 4); i > 0; i--)
        {
            body[r.Next(body.Length)] ^= (byte)(1 + r.Next(255));
        }

        var headers = r.Next(2) == 0 ? new[] { Header("grpc-encoding", "gzip") } : [];
        return Case("EmptyCall", body, new Expectation([StatusCode.OK, StatusCode.Internal, StatusCode.ResourceExhausted], MayReset: true), headers);
    }

    private static FuzzCase ClientStreaming(Random r)
    {
        var frames = new List<byte>();
        var total = 0;
        var broken = false;
        for (var i = r.Next(0, 20); i > 0; i--)
        {
            var size = r.Next(0, 256);
            var payload = new StreamingInputCallRequest { Payload = new Payload { Body = ByteString.CopyFrom(Bytes(r, size)) } }.ToByteArray();
            if (r.Next(10) == 0)
            {
                payload = [.. payload, 0x0F]; // wire type 7
                broken = true;
            }

            total += size;
            frames.AddRange(Frame(payload));
        }

        return Case("StreamingInputCall", [.. frames], broken ? Expectation.Of(StatusCode.Internal) : new Expectation([StatusCode.OK], AggregatedSize: total));
    }

    private static SimpleRequest SampleRequest(Random r) => new()
    {
        ResponseSize = r.Next(0, 1024),
        Payload = new Payload { Body = ByteString.CopyFrom(Bytes(r, r.Next(0, 128))) },
        FillUsername = r.Next(2) == 0,
    };

    public static byte[] Frame(byte[] payload, bool compressed = false, uint? declared = null)
    {
        var frame = new byte[MessageFraming.HeaderSize + payload.Length];
        frame[0] = compressed ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), declared ?? (uint)payload.Length);
        payload.CopyTo(frame, MessageFraming.HeaderSize);
        return frame;
    }

    private static byte[] Varint(ulong value)
    {
        var bytes = new List<byte>();
        while (value >= 0x80)
        {
            bytes.Add((byte)(value | 0x80));
            value >>= 7;
        }

        bytes.Add((byte)value);
        return [.. bytes];
    }

    private static readonly byte[] ZeroBytes = new byte[MaxReceive];

    private static ReadOnlySpan<byte> Zeros(int length) => ZeroBytes.AsSpan(0, length);

    private static byte[] Bytes(Random r, int length)
    {
        var bytes = new byte[length];
        r.NextBytes(bytes);
        return bytes;
    }

    private static string RandomText(Random r, int length)
    {
        var text = new StringBuilder(length);
        for (var i = 0; i < length; i++)
        {
            text.Append(r.Next(4) switch
            {
                0 => (char)r.Next(0x400, 0x4FF), // Cyrillic (Kazakh and Russian)
                1 => (char)r.Next(0x20, 0x7F),
                2 => "%\n\t\0"[r.Next(4)],
                _ => (char)r.Next(0x61, 0x7B),
            });
        }

        return text.ToString();
    }

    private static string RandomAscii(Random r, int length)
    {
        var chars = new char[length];
        for (var i = 0; i < length; i++)
        {
            chars[i] = (char)r.Next(0x21, 0x7F);
        }

        return new string(chars);
    }
}
