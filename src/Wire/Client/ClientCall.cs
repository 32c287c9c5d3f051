using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;

namespace BedBureau.Wire.Client;

/// <summary>One call's HTTP/2 exchange: headers, framed messages, then the status.</summary>
internal sealed class ClientCall<TResponse>(GrpcChannel channel, CallOptions options) : IDisposable
    where TResponse : class, IMessage<TResponse>
{
    private readonly CancellationTokenSource _cancellation = CreateCancellation(options);
    private HttpResponseMessage? _response;
    private PipeReader? _body;
    private Status? _trailersOnlyStatus;
    private bool _compressed;

    public Metadata ResponseHeaders { get; private set; } = [];

    public Metadata Trailers { get; private set; } = [];

    public Status? Status { get; private set; }

    private CancellationToken Token => _cancellation.Token;

    public async Task StartAsync(string method, HttpContent content)
    {
        var request = channel.CreateRequest(method, content, options);
        try
        {
            _response = await channel.SendAsync(request, Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw Fail(ex);
        }

        ResponseHeaders = ReadMetadata(_response.Headers);
        if (_response.StatusCode != HttpStatusCode.OK)
        {
            // http-grpc-status-mapping.md
            var code = _response.StatusCode switch
            {
                HttpStatusCode.BadRequest => StatusCode.Internal,
                HttpStatusCode.Unauthorized => StatusCode.Unauthenticated,
                HttpStatusCode.Forbidden => StatusCode.PermissionDenied,
                HttpStatusCode.NotFound => StatusCode.Unimplemented,
                HttpStatusCode.TooManyRequests or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout => StatusCode.Unavailable,
                _ => StatusCode.Unknown,
            };
            throw Complete(new Status(code, $"Bad gRPC response. HTTP status code: {(int)_response.StatusCode}"), []);
        }

        if (TryReadStatus(_response.Headers, out var status))
        {
            // PROTOCOL-HTTP2.md: Trailers-Only, the status came with the headers.
            _trailersOnlyStatus = status;
            Trailers = ResponseHeaders;
            return;
        }

        if (!GrpcProtocol.IsGrpcContentType(_response.Content.Headers.ContentType?.MediaType))
        {
            throw Complete(new Status(StatusCode.Internal, $"Bad gRPC response. Content-Type: {_response.Content.Headers.ContentType}"), []);
        }

        _compressed = _response.Headers.TryGetValues(GrpcProtocol.EncodingHeader, out var encodings) && encodings.Contains(GrpcProtocol.GzipEncoding);
        _body = PipeReader.Create(await _response.Content.ReadAsStreamAsync(Token).ConfigureAwait(false));
    }

    /// <summary>The next response message, or null at the end of the messages.</summary>
    public async Task<TResponse?> ReadMessageAsync()
    {
        if (_body is null)
        {
            return null;
        }

        try
        {
            while (true)
            {
                var result = await _body.ReadAsync(Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                var frame = MessageFraming.TryRead(ref buffer, channel.Options.MaxReceiveMessageSize, out var compressed, out var payload, out var length);
                if (frame == FrameReadResult.Message)
                {
                    try
                    {
                        return Parse(payload, compressed);
                    }
                    finally
                    {
                        _body.AdvanceTo(buffer.Start);
                    }
                }

                if (frame == FrameReadResult.TooLarge)
                {
                    throw new RpcException(StatusCode.ResourceExhausted, $"Received message larger than max ({length} vs. {channel.Options.MaxReceiveMessageSize})");
                }

                if (result.IsCompleted)
                {
                    if (!result.Buffer.IsEmpty)
                    {
                        throw new RpcException(StatusCode.Internal, "The response ended inside a message.");
                    }

                    _body.AdvanceTo(result.Buffer.End);
                    return null;
                }

                _body.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            }
        }
        catch (RpcException)
        {
            throw;
        }
        catch (Exception ex)
        {
            throw Fail(ex);
        }
    }

    /// <summary>Reads the status after the last message; throws unless it is OK.</summary>
    public Task ReadStatusAsync()
    {
        if (_trailersOnlyStatus is { } early)
        {
            return Finish(early);
        }

        if (!TryReadStatus(_response!.TrailingHeaders, out var status))
        {
            status = new Status(StatusCode.Internal, "The response ended without grpc-status.");
        }

        Trailers = ReadMetadata(_response.TrailingHeaders);
        return Finish(status);
    }

    private Task Finish(Status status)
    {
        Status = status;
        return status.Code == StatusCode.OK ? Task.CompletedTask : Task.FromException(new RpcException(status, Trailers));
    }

    private RpcException Complete(Status status, Metadata trailers)
    {
        Status = status;
        Trailers = trailers;
        return new RpcException(status, trailers);
    }

    private TResponse Parse(System.Buffers.ReadOnlySequence<byte> payload, bool compressed)
    {
        try
        {
            if (!compressed)
            {
                return MessageParsers<TResponse>.Parser.ParseFrom(payload);
            }

            if (!_compressed)
            {
                throw new RpcException(StatusCode.Internal, "A compressed message arrived without grpc-encoding.");
            }

            return GzipCodec.TryDecompress(payload, channel.Options.MaxReceiveMessageSize, out var plain)
                ? MessageParsers<TResponse>.Parser.ParseFrom(plain)
                : throw new RpcException(StatusCode.ResourceExhausted, "Decompressed message larger than max.");
        }
        catch (Exception ex) when (ex is InvalidProtocolBufferException or InvalidDataException)
        {
            throw new RpcException(StatusCode.Internal, "Failed to deserialize the response message.");
        }
    }

    private static readonly TimeSpan DeadlineSlack = TimeSpan.FromMilliseconds(20);

    /// <summary>Maps a transport failure to the status the caller sees.</summary>
    private RpcException Fail(Exception ex)
    {
        if (_cancellation.IsCancellationRequested)
        {
            // Only the caller's token or the deadline timer cancel the call; the timer may fire a
            // little before DateTime.UtcNow reaches the deadline, so do not compare clocks.
            var byCaller = options.CancellationToken.IsCancellationRequested;
            return Complete(byCaller || options.Deadline is null ? new Status(StatusCode.Cancelled, "Call cancelled by the client.") : new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded"), []);
        }

        // SendAsync wraps the reset in an HttpRequestException; reading the body throws it as is.
        var reset = ex as HttpProtocolException ?? ex.InnerException as HttpProtocolException;
        var code = reset?.ErrorCode switch
        {
            // A server resets the stream (CANCEL) when its copy of our deadline fires, which may
            // be a little before our own timer does.
            0x8 when options.Deadline is { } deadline && deadline - DateTime.UtcNow < DeadlineSlack => StatusCode.DeadlineExceeded,
            0x8 => StatusCode.Cancelled,           // RST_STREAM CANCEL
            0xb => StatusCode.ResourceExhausted,   // ENHANCE_YOUR_CALM
            0xc => StatusCode.PermissionDenied,    // INADEQUATE_SECURITY
            not null => StatusCode.Internal,
            null => StatusCode.Unavailable,
        };
        return Complete(code == StatusCode.DeadlineExceeded ? new Status(code, "Deadline Exceeded") : new Status(code, $"Error talking to the server: {ex.Message}"), []);
    }

    private static bool TryReadStatus(HttpHeaders headers, out Status status)
    {
        status = default;
        if (!headers.TryGetValues(GrpcProtocol.StatusHeader, out var codes))
        {
            return false;
        }

        var code = int.TryParse(codes.FirstOrDefault(), out var value) ? (StatusCode)value : StatusCode.Unknown;
        var message = headers.TryGetValues(GrpcProtocol.MessageHeader, out var messages) ? PercentEncoding.Decode(messages.First()) : "";
        status = new Status(code, message);
        return true;
    }

    private static Metadata ReadMetadata(HttpHeaders headers)
    {
        var metadata = new Metadata();
        foreach (var (key, values) in headers.NonValidated)
        {
            if (key is GrpcProtocol.StatusHeader or GrpcProtocol.MessageHeader or GrpcProtocol.EncodingHeader or GrpcProtocol.AcceptEncodingHeader)
            {
                continue;
            }

            foreach (var value in values)
            {
                if (!Metadata.IsBinaryKey(key))
                {
                    metadata.Add(key, value);
                }
                else if (Metadata.TryDecodeBinary(value, out var bytes))
                {
                    metadata.Add(key, bytes);
                }
            }
        }

        return metadata;
    }

    private static CancellationTokenSource CreateCancellation(CallOptions options)
    {
        var cancellation = CancellationTokenSource.CreateLinkedTokenSource(options.CancellationToken);
        if (options.Deadline is { } deadline)
        {
            var remaining = deadline - DateTime.UtcNow;
            cancellation.CancelAfter(remaining < TimeSpan.Zero ? TimeSpan.Zero : remaining > TimeSpan.FromDays(30) ? Timeout.InfiniteTimeSpan : remaining);
        }

        return cancellation;
    }

    public void Dispose()
    {
        // Disposing an unfinished response resets the stream (RST_STREAM CANCEL).
        _response?.Dispose();
        _cancellation.Dispose();
    }
}
