using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using BedBureau.GrpcServer.Tests.Infrastructure;
using BedBureau.InteropHost.Testing;
using BedBureau.Wire;
using Google.Protobuf;

namespace BedBureau.GrpcServer.Tests.Server;

public sealed class ProbeHostFixture : IAsyncLifetime
{
    public ProbeHost Host { get; private set; } = null!;

    public async Task InitializeAsync() => Host = await ProbeHost.StartAsync();

    public async Task DisposeAsync() => await Host.DisposeAsync();
}

/// <summary>
/// The server's error paths, seen on the wire: raw frames posted by HttpClient over HTTP/2
/// to real Kestrel (as grpc-dotnet's functional tests do), answers read header by header.
/// </summary>
public sealed class RawFrameErrorPathTests(ProbeHostFixture fixture) : IClassFixture<ProbeHostFixture>
{
    private const string Unary = "/grpc.testing.TestService/UnaryCall";

    private ProbeHost Host => fixture.Host;

    [Fact]
    public async Task Wrong_content_type_is_answered_with_http_415()
    {
        using var response = await Host.Client.SendAsync(ProbeHost.Request(Unary, new ByteArrayContent(ProbeHost.Frame(new SimpleRequest())), "application/json"));

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
    }

    [Theory]
    [InlineData("/grpc.testing.NoSuchService/UnaryCall")]
    [InlineData("/grpc.testing.UnimplementedService/UnimplementedCall")]
    [InlineData("/grpc.testing.TestService/NoSuchMethod")]
    [InlineData("/grpc.testing.TestService/UnimplementedCall")]
    public async Task Unknown_service_or_method_is_unimplemented(string path)
    {
        var result = await GrpcResult.SendAsync(Host, ProbeHost.Request(path, new ByteArrayContent(ProbeHost.Frame(new Empty()))));

        Assert.Equal(HttpStatusCode.OK, result.HttpStatus);
        Assert.Equal(StatusCode.Unimplemented, result.Status);
    }

    [Fact]
    public async Task Message_over_the_receive_limit_is_resource_exhausted_before_the_body_is_read()
    {
        // Only the prefix is sent, declaring 100 MB; the body never comes, so an answer proves
        // the server judged the prefix alone.
        using var content = new HoldOpenContent(ProbeHost.Frame([], declaredLength: 100 * 1024 * 1024));
        var result = await GrpcResult.SendAsync(Host, ProbeHost.Request(Unary, content), HttpCompletionOption.ResponseHeadersRead);

        Assert.Equal(StatusCode.ResourceExhausted, result.Status);
        Assert.Contains("larger than max", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Message_just_over_the_limit_is_resource_exhausted_and_one_at_the_limit_is_served()
    {
        var atLimit = new SimpleRequest { ResponseSize = 1, Payload = new Payload { Body = ByteString.CopyFrom(new byte[ProbeHost.MaxReceiveMessageSize - 16]) } };
        var size = atLimit.CalculateSize();
        var fits = await GrpcResult.SendAsync(Host, ProbeHost.Request(Unary, new ByteArrayContent(ProbeHost.Frame(atLimit))));
        var over = new SimpleRequest { ResponseSize = 1, Payload = new Payload { Body = ByteString.CopyFrom(new byte[ProbeHost.MaxReceiveMessageSize]) } };
        var tooLarge = await GrpcResult.SendAsync(Host, ProbeHost.Request(Unary, new ByteArrayContent(ProbeHost.Frame(over))));

        Assert.True(size <= ProbeHost.MaxReceiveMessageSize);
        Assert.Equal(StatusCode.OK, fits.Status);
        Assert.Equal(StatusCode.ResourceExhausted, tooLarge.Status);
    }

    [Fact]
    public async Task Truncated_frame_is_internal()
    {
        var frame = ProbeHost.Frame(new byte[10], declaredLength: 100);

        var result = await GrpcResult.SendAsync(Host, ProbeHost.Request(Unary, new ByteArrayContent(frame)));

        Assert.Equal(StatusCode.Internal, result.Status);
    }

    [Fact]
    public async Task Truncated_prefix_is_internal()
    {
        var result = await GrpcResult.SendAsync(Host, ProbeHost.Request(Unary, new ByteArrayContent([0, 0, 0])));

        Assert.Equal(StatusCode.Internal, result.Status);
    }

    [Fact]
    public async Task Malformed_protobuf_is_internal()
    {
        // Field 2 (response_size) as a varint that never ends.
        var result = await GrpcResult.SendAsync(Host, ProbeHost.Request(Unary, new ByteArrayContent(ProbeHost.Frame([0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]))));

        Assert.Equal(StatusCode.Internal, result.Status);
    }

    [Fact]
    public async Task Missing_request_message_is_internal()
    {
        var result = await GrpcResult.SendAsync(Host, ProbeHost.Request(Unary, new ByteArrayContent([])));

        Assert.Equal(StatusCode.Internal, result.Status);
    }

    [Fact]
    public async Task Second_message_in_a_unary_request_is_internal()
    {
        byte[] body = [.. ProbeHost.Frame(new SimpleRequest()), .. ProbeHost.Frame(new SimpleRequest())];

        var result = await GrpcResult.SendAsync(Host, ProbeHost.Request(Unary, new ByteArrayContent(body)));

        Assert.Equal(StatusCode.Internal, result.Status);
    }

    [Fact]
    public async Task Unary_request_arriving_in_pieces_is_served()
    {
        // The prefix, then the message in two writes: the server must wait for the whole body.
        var frame = ProbeHost.Frame(new SimpleRequest { ResponseSize = 9, Payload = new Payload { Body = ByteString.CopyFrom(new byte[1000]) } });
        using var content = new ChunkedContent([frame[..3], frame[3..500], frame[500..]]);

        var result = await GrpcResult.SendAsync(Host, ProbeHost.Request(Unary, content));

        Assert.Equal(StatusCode.OK, result.Status);
        Assert.Equal(9, SimpleResponse.Parser.ParseFrom(result.Body.AsSpan(MessageFraming.HeaderSize)).Payload.Body.Length);
    }

    [Fact]
    public async Task Compressed_flag_without_grpc_encoding_is_internal()
    {
        var frame = ProbeHost.Frame(Gzip(new SimpleRequest { ResponseSize = 3 }.ToByteArray()), compressed: true);

        var result = await GrpcResult.SendAsync(Host, ProbeHost.Request(Unary, new ByteArrayContent(frame)));

        Assert.Equal(StatusCode.Internal, result.Status);
    }

    [Fact]
    public async Task Gzip_request_with_grpc_encoding_is_served()
    {
        var frame = ProbeHost.Frame(Gzip(new SimpleRequest { ResponseSize = 3 }.ToByteArray()), compressed: true);

        var result = await GrpcResult.SendAsync(Host, ProbeHost.Request(Unary, new ByteArrayContent(frame), headers: ("grpc-encoding", "gzip")));

        Assert.Equal(StatusCode.OK, result.Status);
        Assert.Equal(3, SimpleResponse.Parser.ParseFrom(result.Body.AsSpan(MessageFraming.HeaderSize)).Payload.Body.Length);
    }

    [Fact]
    public async Task Compressed_response_is_gzip_with_the_flag_set_when_the_client_accepts_gzip()
    {
        var request = new SimpleRequest { ResponseSize = 5000, ResponseCompressed = new BoolValue { Value = true } };

        var result = await GrpcResult.SendAsync(Host, ProbeHost.Request(Unary, new ByteArrayContent(ProbeHost.Frame(request)), headers: ("grpc-accept-encoding", "identity,gzip")));

        Assert.Equal(StatusCode.OK, result.Status);
        Assert.Equal("gzip", result.Header("grpc-encoding"));
        var buffer = new System.Buffers.ReadOnlySequence<byte>(result.Body);
        Assert.Equal(FrameReadResult.Message, MessageFraming.TryRead(ref buffer, int.MaxValue, out var compressed, out var payload, out _));
        Assert.True(compressed);
        Assert.True(GzipCodec.TryDecompress(payload, int.MaxValue, out var plain));
        Assert.Equal(5000, SimpleResponse.Parser.ParseFrom(plain).Payload.Body.Length);
    }

    [Fact]
    public async Task Response_stays_uncompressed_when_the_client_does_not_accept_gzip()
    {
        var request = new SimpleRequest { ResponseSize = 5000, ResponseCompressed = new BoolValue { Value = true } };

        var result = await GrpcResult.SendAsync(Host, ProbeHost.Request(Unary, new ByteArrayContent(ProbeHost.Frame(request))));

        Assert.Equal(StatusCode.OK, result.Status);
        Assert.Null(result.Header("grpc-encoding"));
        Assert.Equal(0, result.Body[0]);
        Assert.Equal(5000, SimpleResponse.Parser.ParseFrom(result.Body.AsSpan(MessageFraming.HeaderSize)).Payload.Body.Length);
    }

    [Fact]
    public async Task Unsupported_grpc_encoding_is_unimplemented_and_lists_the_accepted_ones()
    {
        var result = await GrpcResult.SendAsync(Host, ProbeHost.Request(Unary, new ByteArrayContent(ProbeHost.Frame(new SimpleRequest())), headers: ("grpc-encoding", "snappy")));

        Assert.Equal(StatusCode.Unimplemented, result.Status);
        var accepted = result.Header("grpc-accept-encoding")!.Split(',', StringSplitOptions.TrimEntries);
        Assert.Contains("gzip", accepted);
        Assert.Contains("identity", accepted);
    }

    [Fact]
    public async Task Handler_exception_is_unknown_without_its_text()
    {
        var result = await GrpcResult.SendAsync(Host, ProbeHost.Request(Unary, new ByteArrayContent(ProbeHost.Frame(new SimpleRequest())), headers: ("x-probe", "throw")));

        Assert.Equal(StatusCode.Unknown, result.Status);
        Assert.DoesNotContain("hunter2", result.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(nameof(InvalidOperationException), result.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", result.AllHeaderText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Grpc_timeout_cancels_the_handler_and_answers_deadline_exceeded()
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var result = await GrpcResult.SendAsync(Host, ProbeHost.Request(Unary, new ByteArrayContent(ProbeHost.Frame(new SimpleRequest())), headers: [("x-probe", "wait-for-cancel"), ("grpc-timeout", "200m")]));

        Assert.Equal(StatusCode.DeadlineExceeded, result.Status);
        Assert.True(Host.Service.HandlerCancelled.Task.IsCompleted, "the handler's cancellation token did not fire");
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(5), $"answered after {started.Elapsed}");
    }

    [Fact]
    public async Task Failure_before_any_message_is_trailers_only()
    {
        var request = new SimpleRequest { ResponseStatus = new EchoStatus { Code = (int)StatusCode.NotFound, Message = "no such hospital" } };

        var result = await GrpcResult.SendAsync(Host, ProbeHost.Request(Unary, new ByteArrayContent(ProbeHost.Frame(request))));

        // PROTOCOL-HTTP2.md Trailers-Only: one HEADERS frame with the status, no body, no trailers.
        Assert.Equal("5", result.Response.Headers.NonValidated["grpc-status"].ToString());
        Assert.Equal("no such hospital", result.Response.Headers.NonValidated["grpc-message"].ToString());
        Assert.Equal("application/grpc", result.Response.Content.Headers.ContentType?.MediaType);
        Assert.Empty(result.Body);
        Assert.False(result.Response.TrailingHeaders.Contains("grpc-status"));
    }

    [Fact]
    public async Task Failure_after_a_message_has_its_status_in_the_trailers()
    {
        var request = new StreamingOutputCallRequest
        {
            ResponseParameters = { new ResponseParameters { Size = 4 } },
            ResponseStatus = new EchoStatus { Code = (int)StatusCode.Aborted, Message = "stop" },
        };

        var result = await GrpcResult.SendAsync(Host, ProbeHost.Request("/grpc.testing.TestService/StreamingOutputCall", new ByteArrayContent(ProbeHost.Frame(request))));

        Assert.False(result.Response.Headers.Contains("grpc-status"));
        Assert.Equal("10", result.Response.TrailingHeaders.NonValidated["grpc-status"].ToString());
        Assert.Equal(MessageFraming.HeaderSize + new StreamingOutputCallResponse { Payload = new Payload { Body = ByteString.CopyFrom(new byte[4]) } }.CalculateSize(), result.Body.Length);
    }

    [Fact]
    public async Task Ok_unary_answer_has_one_message_and_status_in_the_trailers()
    {
        var result = await GrpcResult.SendAsync(Host, ProbeHost.Request(Unary, new ByteArrayContent(ProbeHost.Frame(new SimpleRequest { ResponseSize = 7 }))));

        Assert.False(result.Response.Headers.Contains("grpc-status"));
        Assert.Equal("0", result.Response.TrailingHeaders.NonValidated["grpc-status"].ToString());
        var buffer = new System.Buffers.ReadOnlySequence<byte>(result.Body);
        Assert.Equal(FrameReadResult.Message, MessageFraming.TryRead(ref buffer, int.MaxValue, out _, out var message, out _));
        Assert.True(buffer.IsEmpty);
        Assert.Equal(7, SimpleResponse.Parser.ParseFrom(message).Payload.Body.Length);
    }

    [Fact]
    public async Task Grpc_message_is_percent_encoded_on_the_wire()
    {
        const string detail = "bed 100% taken\r\nкойка ☺";
        var request = new SimpleRequest { ResponseStatus = new EchoStatus { Code = (int)StatusCode.FailedPrecondition, Message = detail } };

        var result = await GrpcResult.SendAsync(Host, ProbeHost.Request(Unary, new ByteArrayContent(ProbeHost.Frame(request))));

        Assert.Equal("bed 100%25 taken%0D%0A%D0%BA%D0%BE%D0%B9%D0%BA%D0%B0 %E2%98%BA", result.RawHeader("grpc-message"));
        Assert.Equal(detail, result.Message);
    }

    [Fact]
    public async Task Binary_metadata_round_trips_through_headers_and_trailers()
    {
        byte[] value = [0x00, 0xFF, 0xFE, 0x10, 0x80];
        var unpadded = Convert.ToBase64String(value).TrimEnd('=');
        byte[] other = [1, 2, 3];
        var padded = Convert.ToBase64String([1, 2, 3, 4]);

        var result = await GrpcResult.SendAsync(Host, ProbeHost.Request(Unary, new ByteArrayContent(ProbeHost.Frame(new SimpleRequest())),
            headers: [("x-probe", "echo-metadata"), ("x-echo-blob-bin", unpadded), ("x-echo-padded-bin", padded), ("x-echo-text", "plain"), ("x-echo-three-bin", Convert.ToBase64String(other))]));

        Assert.Equal(StatusCode.OK, result.Status);
        Assert.True(Metadata.TryDecodeBinary(result.RawHeader("x-echo-blob-bin")!, out var echoed));
        Assert.Equal(value, echoed);
        Assert.True(Metadata.TryDecodeBinary(result.RawTrailer("x-echo-blob-bin")!, out var trailed));
        Assert.Equal(value, trailed);
        Assert.True(Metadata.TryDecodeBinary(result.RawTrailer("x-echo-padded-bin")!, out var fromPadded));
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, fromPadded);
        Assert.True(Metadata.TryDecodeBinary(result.RawTrailer("x-echo-three-bin")!, out var three));
        Assert.Equal(other, three);
        Assert.Equal("plain", result.RawHeader("x-echo-text"));
    }

    private static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }
}

/// <summary>Graceful shutdown: an in-flight call finishes before the server stops.</summary>
public sealed class GracefulShutdownTests
{
    [Fact]
    public async Task Stopping_the_server_drains_an_in_flight_call()
    {
        await using var host = await ProbeHost.StartAsync();
        var call = GrpcResult.SendAsync(host, ProbeHost.Request("/grpc.testing.TestService/UnaryCall",
            new ByteArrayContent(ProbeHost.Frame(new SimpleRequest { ResponseSize = 5 })), headers: ("x-probe", "hold")));
        await host.Service.HoldEntered.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var stopping = host.StopAsync();
        await Task.Delay(100);
        Assert.False(stopping.IsCompleted, "the server stopped with a call in flight");
        host.Service.Release.TrySetResult();
        var result = await call.WaitAsync(TimeSpan.FromSeconds(10));
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(StatusCode.OK, result.Status);
        Assert.Equal(5, SimpleResponse.Parser.ParseFrom(result.Body.AsSpan(MessageFraming.HeaderSize)).Payload.Body.Length);
    }
}

/// <summary>A gRPC answer as the wire carried it.</summary>
internal sealed record GrpcResult(HttpResponseMessage Response, byte[] Body)
{
    public HttpStatusCode HttpStatus => Response.StatusCode;

    /// <summary>Whether the status came in the headers (Trailers-Only) or in the trailers.</summary>
    private HttpHeaders StatusHeaders => Response.Headers.Contains("grpc-status") ? Response.Headers : Response.TrailingHeaders;

    public StatusCode? Status => StatusHeaders.NonValidated.TryGetValues("grpc-status", out var v) ? (StatusCode)int.Parse(v.ToString()) : null;

    public string Message => StatusHeaders.NonValidated.TryGetValues("grpc-message", out var v) ? PercentEncoding.Decode(v.ToString()) : "";

    public string? Header(string name) => Response.Headers.NonValidated.TryGetValues(name, out var v) ? v.ToString() : null;

    public string? RawHeader(string name) => Header(name);

    public string? RawTrailer(string name) => Response.TrailingHeaders.NonValidated.TryGetValues(name, out var v) ? v.ToString() : null;

    public string AllHeaderText => Response.Headers.ToString() + Response.TrailingHeaders;

    public static async Task<GrpcResult> SendAsync(ProbeHost host, HttpRequestMessage request, HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var response = await host.Client.SendAsync(request, completion, timeout.Token);

        // With ResponseHeadersRead this still ends: a Trailers-Only answer has no body.
        var body = await response.Content.ReadAsByteArrayAsync(timeout.Token);
        return new GrpcResult(response, body);
    }
}

/// <summary>Request content that sends some bytes, then stays open until disposed.</summary>
internal sealed class HoldOpenContent(byte[] bytes) : HttpContent
{
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        await stream.WriteAsync(bytes, cancellationToken);
        await stream.FlushAsync(cancellationToken);
        await _done.Task.WaitAsync(cancellationToken);
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override bool TryComputeLength(out long length)
    {
        length = -1;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        _done.TrySetResult();
        base.Dispose(disposing);
    }
}

/// <summary>Request content written in separate flushed pieces, a little apart.</summary>
internal sealed class ChunkedContent(byte[][] chunks) : HttpContent
{
    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
    {
        foreach (var chunk in chunks)
        {
            await stream.WriteAsync(chunk);
            await stream.FlushAsync();
            await Task.Delay(20);
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        length = -1;
        return false;
    }
}
