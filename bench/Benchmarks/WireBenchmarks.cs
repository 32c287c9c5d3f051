using System.Buffers;
using BedBureau.Contract.V1;
using BedBureau.Wire;
using BenchmarkDotNet.Attributes;

namespace BedBureau.Benchmarks;

/// <summary>
/// gRPC message framing and protobuf (de)serialization as the server and client do them:
/// serialize straight into the body writer, read a frame from a sequence and parse it.
/// dotnet run -c Release --project bench/Benchmarks -- --filter '*WireBenchmarks*' --job short
/// </summary>
[MemoryDiagnoser]
public class WireBenchmarks
{
    private readonly ArrayBufferWriter<byte> _writer = new(64 * 1024);
    private RegisterReferralRequest _small = null!;
    private SearchFreeBedsResponse _large = null!;
    private byte[] _smallFramed = null!;
    private byte[] _largeFramed = null!;
    private byte[] _largeCompressed = null!;

    [GlobalSetup]
    public void Setup()
    {
        _small = WireMessages.SmallRequest();
        _large = WireMessages.LargeResponse();
        _smallFramed = MessageFraming.ToFramedBytes(_small, compress: false);
        _largeFramed = MessageFraming.ToFramedBytes(_large, compress: false);
        _largeCompressed = MessageFraming.ToFramedBytes(_large, compress: true);
    }

    [Benchmark]
    public int WriteSmall()
    {
        _writer.ResetWrittenCount();
        MessageFraming.Write(_writer, _small);
        return _writer.WrittenCount;
    }

    [Benchmark]
    public int WriteLarge()
    {
        _writer.ResetWrittenCount();
        MessageFraming.Write(_writer, _large);
        return _writer.WrittenCount;
    }

    [Benchmark]
    public int WriteLargeGzip()
    {
        _writer.ResetWrittenCount();
        MessageFraming.WriteCompressed(_writer, _large);
        return _writer.WrittenCount;
    }

    [Benchmark]
    public RegisterReferralRequest ReadSmall() => Read(_smallFramed, RegisterReferralRequest.Parser);

    [Benchmark]
    public SearchFreeBedsResponse ReadLarge() => Read(_largeFramed, SearchFreeBedsResponse.Parser);

    [Benchmark]
    public SearchFreeBedsResponse ReadLargeGzip()
    {
        var buffer = new ReadOnlySequence<byte>(_largeCompressed);
        MessageFraming.TryRead(ref buffer, GrpcProtocol.DefaultMaxReceiveMessageSize, out _, out var payload, out _);
        GzipCodec.TryDecompress(payload, GrpcProtocol.DefaultMaxReceiveMessageSize, out var plain);
        return SearchFreeBedsResponse.Parser.ParseFrom(plain);
    }

    private static T Read<T>(byte[] framed, Google.Protobuf.MessageParser<T> parser)
        where T : Google.Protobuf.IMessage<T>
    {
        var buffer = new ReadOnlySequence<byte>(framed);
        MessageFraming.TryRead(ref buffer, GrpcProtocol.DefaultMaxReceiveMessageSize, out _, out var payload, out _);
        return parser.ParseFrom(payload);
    }
}
