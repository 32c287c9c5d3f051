using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;

namespace BedBureau.Wire.Client;

public sealed class GrpcChannelOptions
{
    public int MaxReceiveMessageSize { get; set; } = GrpcProtocol.DefaultMaxReceiveMessageSize;

    /// <summary>Replaces the default handler (for TLS client certificates, say).</summary>
    public HttpMessageHandler? Handler { get; set; }

    /// <summary>Metadata sent on every call, e.g. "authorization: Bearer ...".</summary>
    public Metadata? DefaultHeaders { get; set; }
}

/// <summary>
/// A gRPC client connection over <see cref="HttpClient"/> and HTTP/2 (h2c by prior knowledge
/// for http://, ALPN for https://). Thread-safe; reuse one per server.
/// </summary>
public sealed class GrpcChannel : IDisposable
{
    private static readonly MediaTypeHeaderValue GrpcContentType = new(GrpcProtocol.ContentType);
    private readonly HttpMessageInvoker _http;
    private readonly Uri _address;

    private GrpcChannel(Uri address, GrpcChannelOptions options)
    {
        _address = address;
        Options = options;
        _http = new HttpMessageInvoker(options.Handler ?? new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            KeepAlivePingDelay = TimeSpan.FromSeconds(60),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(20),
            ConnectTimeout = TimeSpan.FromSeconds(10),
        }, disposeHandler: true);
    }

    public GrpcChannelOptions Options { get; }

    public static GrpcChannel ForAddress(string address, GrpcChannelOptions? options = null) =>
        new(new Uri(address), options ?? new GrpcChannelOptions());

    public async Task<TResponse> UnaryAsync<TRequest, TResponse>(Method<TRequest, TResponse> method, TRequest request, CallOptions options = default)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        using var call = new ClientCall<TResponse>(this, options);
        var content = new ByteArrayContent(MessageFraming.ToFramedBytes(request, options.CompressRequest));
        await call.StartAsync(method.FullName, content).ConfigureAwait(false);
        var response = await call.ReadMessageAsync().ConfigureAwait(false);
        if (response is null)
        {
            await call.ReadStatusAsync().ConfigureAwait(false);
            throw new RpcException(StatusCode.Internal, "The server sent no response message and status OK.");
        }

        if (await call.ReadMessageAsync().ConfigureAwait(false) is not null)
        {
            throw new RpcException(StatusCode.Internal, "The server sent more than one response message to a unary call.");
        }

        await call.ReadStatusAsync().ConfigureAwait(false);
        return response;
    }

    /// <summary>Starts a server-streaming call; read ResponseStream (headers and messages arrive as the server sends them).</summary>
    public ServerStreamingCall<TResponse> ServerStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, TRequest request, CallOptions options = default)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        var call = new ClientCall<TResponse>(this, options);
        var started = call.StartAsync(method.FullName, new ByteArrayContent(MessageFraming.ToFramedBytes(request, options.CompressRequest)));
        return new ServerStreamingCall<TResponse>(call, started);
    }

    /// <summary>Starts a client- or bidirectional-streaming call; send with RequestStream, then read.</summary>
    public DuplexStreamingCall<TRequest, TResponse> DuplexStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, CallOptions options = default)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        var call = new ClientCall<TResponse>(this, options);
        var content = new StreamingRequestContent();
        var started = call.StartAsync(method.FullName, content);
        return new DuplexStreamingCall<TRequest, TResponse>(call, started, new RequestStreamWriter<TRequest>(content, options.CompressRequest));
    }

    internal HttpRequestMessage CreateRequest(string method, HttpContent content, CallOptions options)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_address, method))
        {
            // Set on every message: DefaultRequestVersion does not apply to our own messages.
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        content.Headers.ContentType = GrpcContentType;
        var headers = request.Headers;
        headers.TryAddWithoutValidation("te", "trailers");
        headers.TryAddWithoutValidation(GrpcProtocol.AcceptEncodingHeader, GrpcProtocol.SupportedEncodings);
        if (options.CompressRequest)
        {
            headers.TryAddWithoutValidation(GrpcProtocol.EncodingHeader, GrpcProtocol.GzipEncoding);
        }

        if (options.Deadline is { } deadline)
        {
            headers.TryAddWithoutValidation(GrpcProtocol.TimeoutHeader, GrpcTimeout.Format(deadline - DateTime.UtcNow));
        }

        AddMetadata(headers, Options.DefaultHeaders);
        AddMetadata(headers, options.Headers);
        return request;
    }

    internal Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        _http.SendAsync(request, cancellationToken);

    private static void AddMetadata(HttpRequestHeaders headers, Metadata? metadata)
    {
        if (metadata is null)
        {
            return;
        }

        foreach (var entry in metadata)
        {
            headers.TryAddWithoutValidation(entry.Key, entry.WireValue);
        }
    }

    public void Dispose() => _http.Dispose();
}
