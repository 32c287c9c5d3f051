using BedBureau.GrpcServer.Tests.Infrastructure;
using BedBureau.InteropHost.Testing;
using BedBureau.Wire;
using BedBureau.Wire.Client;
using Google.Protobuf;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;

namespace BedBureau.GrpcServer.Tests.Client;

/// <summary>Our client (GrpcChannel on HttpClient) against a real Python grpcio server.</summary>
public sealed class ClientAgainstPythonServerTests(PythonServerFixture server) : IClassFixture<PythonServerFixture>, IDisposable
{
    private static readonly ServiceDescriptor Service = TestReflection.Descriptor.FindTypeByName<ServiceDescriptor>("TestService");
    private static readonly Method<SimpleRequest, SimpleResponse> UnaryCall = Method<SimpleRequest, SimpleResponse>.Of(Service, "UnaryCall");
    private static readonly Method<StreamingOutputCallRequest, StreamingOutputCallResponse> StreamingOutputCall = Method<StreamingOutputCallRequest, StreamingOutputCallResponse>.Of(Service, "StreamingOutputCall");
    private static readonly Method<StreamingInputCallRequest, StreamingInputCallResponse> StreamingInputCall = Method<StreamingInputCallRequest, StreamingInputCallResponse>.Of(Service, "StreamingInputCall");
    private static readonly Method<StreamingOutputCallRequest, StreamingOutputCallResponse> FullDuplexCall = Method<StreamingOutputCallRequest, StreamingOutputCallResponse>.Of(Service, "FullDuplexCall");

    private readonly GrpcChannel _channel = GrpcChannel.ForAddress(server.Address);

    private static CallOptions Within10s(Metadata? headers = null) => CallOptions.WithTimeout(TimeSpan.FromSeconds(10), headers);

    private static Payload Zeros(int size) => new() { Body = ByteString.CopyFrom(new byte[size]) };

    [Fact]
    public async Task Unary_call_returns_the_servers_response()
    {
        var response = await _channel.UnaryAsync(UnaryCall, new SimpleRequest { ResponseSize = 314159, Payload = Zeros(271828) }, Within10s());

        Assert.Equal(314159, response.Payload.Body.Length);
        Assert.All(response.Payload.Body, b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task Unary_call_with_gzip_both_ways()
    {
        var options = Within10s() with { CompressRequest = true };
        var response = await _channel.UnaryAsync(UnaryCall, new SimpleRequest { ResponseSize = 100_000, ResponseCompressed = new BoolValue { Value = true }, Payload = Zeros(200_000) }, options);

        Assert.Equal(100_000, response.Payload.Body.Length);
    }

    [Fact]
    public async Task Metadata_including_binary_goes_out_and_comes_back_in_headers_and_trailers()
    {
        var binary = new byte[] { 0, 1, 0xAB, 0xFF, 0x7F };
        var call = _channel.ServerStreaming(StreamingOutputCall, new StreamingOutputCallRequest { ResponseParameters = { new ResponseParameters { Size = 1 } } },
            Within10s(new Metadata { { "x-echo-text", "hello" }, { "x-echo-data-bin", binary } }));
        using (call)
        {
            var headers = await call.ResponseHeadersAsync();
            await foreach (var _ in call.ResponseStream.ReadAllAsync())
            {
            }

            Assert.Equal("hello", headers.GetValue("x-echo-text"));
            Assert.Equal(binary, headers.Get("x-echo-data-bin")?.BinaryValue);
            Assert.Equal("hello", call.Trailers.GetValue("x-echo-text"));
            Assert.Equal(binary, call.Trailers.Get("x-echo-data-bin")?.BinaryValue);
        }
    }

    [Fact]
    public async Task Server_streaming_call_reads_every_message_then_the_ok_status()
    {
        int[] sizes = [31415, 9, 2653, 58979];
        var request = new StreamingOutputCallRequest();
        request.ResponseParameters.AddRange(sizes.Select(size => new ResponseParameters { Size = size }));
        using var call = _channel.ServerStreaming(StreamingOutputCall, request, Within10s());

        var received = new List<int>();
        await foreach (var response in call.ResponseStream.ReadAllAsync())
        {
            received.Add(response.Payload.Body.Length);
        }

        Assert.Equal(sizes, received);
        Assert.Equal(StatusCode.OK, call.Status?.Code);
    }

    [Fact]
    public async Task Client_streaming_call_sends_every_message()
    {
        using var call = _channel.DuplexStreaming(StreamingInputCall, Within10s());
        foreach (var size in new[] { 27182, 8, 1828, 45904 })
        {
            await call.RequestStream.WriteAsync(new StreamingInputCallRequest { Payload = Zeros(size) });
        }

        await call.RequestStream.CompleteAsync();
        var response = await call.ResponseAsync();

        Assert.Equal(74922, response.AggregatedPayloadSize);
    }

    [Fact]
    public async Task Bidirectional_call_ping_pongs()
    {
        using var call = _channel.DuplexStreaming(FullDuplexCall, Within10s());
        foreach (var (requestSize, responseSize) in new[] { (27182, 31415), (8, 9), (1828, 2653), (45904, 58979) })
        {
            await call.RequestStream.WriteAsync(new StreamingOutputCallRequest { Payload = Zeros(requestSize), ResponseParameters = { new ResponseParameters { Size = responseSize } } });
            Assert.True(await call.ResponseStream.MoveNext());
            Assert.Equal(responseSize, call.ResponseStream.Current.Payload.Body.Length);
        }

        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext());
        Assert.Equal(StatusCode.OK, call.Status?.Code);
    }

    [Fact]
    public async Task Error_status_before_any_message_arrives_with_its_code_and_decoded_message()
    {
        const string message = "no such bed\t\r\nprofile ☺ 😈 100%";
        var error = await Assert.ThrowsAsync<RpcException>(() => _channel.UnaryAsync(UnaryCall,
            new SimpleRequest { ResponseStatus = new EchoStatus { Code = (int)StatusCode.NotFound, Message = message } }, Within10s()));

        Assert.Equal(StatusCode.NotFound, error.StatusCode);
        Assert.Equal(message, error.Status.Detail);
    }

    [Fact]
    public async Task Error_status_after_messages_arrives_in_the_trailers()
    {
        var request = new StreamingOutputCallRequest
        {
            ResponseParameters = { new ResponseParameters { Size = 10 }, new ResponseParameters { Size = 20 } },
            ResponseStatus = new EchoStatus { Code = (int)StatusCode.FailedPrecondition, Message = "queue closed" },
        };
        using var call = _channel.ServerStreaming(StreamingOutputCall, request, Within10s());

        Assert.True(await call.ResponseStream.MoveNext());
        Assert.True(await call.ResponseStream.MoveNext());
        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext());
        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Equal("queue closed", error.Status.Detail);
    }

    [Fact]
    public async Task Unary_call_on_a_slow_server_ends_with_deadline_exceeded()
    {
        var options = CallOptions.WithTimeout(TimeSpan.FromMilliseconds(300), new Metadata { { "x-sleep-ms", "3000" } });

        var error = await Assert.ThrowsAsync<RpcException>(() => _channel.UnaryAsync(UnaryCall, new SimpleRequest { ResponseSize = 1 }, options));

        Assert.True(error.StatusCode == StatusCode.DeadlineExceeded, error.Status.ToString());
    }

    [Fact]
    public async Task Streaming_call_past_its_deadline_ends_with_deadline_exceeded()
    {
        var request = new StreamingOutputCallRequest
        {
            ResponseParameters = { new ResponseParameters { Size = 1 }, new ResponseParameters { Size = 1, IntervalUs = 5_000_000 } },
        };

        // Long enough for the first message to arrive on a loaded machine, far shorter than the wait.
        using var call = _channel.ServerStreaming(StreamingOutputCall, request, CallOptions.WithTimeout(TimeSpan.FromSeconds(1)));

        Assert.True(await call.ResponseStream.MoveNext());
        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext());
        Assert.True(error.StatusCode == StatusCode.DeadlineExceeded, error.Status.ToString());
    }

    public void Dispose() => _channel.Dispose();
}
