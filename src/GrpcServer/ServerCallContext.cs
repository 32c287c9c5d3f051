using System.Security.Claims;
using BedBureau.Wire;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace BedBureau.GrpcServer;

/// <summary>What a handler knows of its call: deadline, cancellation, metadata, caller, trailers.</summary>
public sealed class ServerCallContext
{
    private static readonly HashSet<string> TransportHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "content-type", "content-length", "te", "host", GrpcProtocol.TimeoutHeader,
        GrpcProtocol.EncodingHeader, GrpcProtocol.AcceptEncodingHeader,
    };

    private Metadata? _requestHeaders;
    private Metadata? _responseTrailers;
    private Func<Metadata, Task>? _startResponse;

    internal ServerCallContext(HttpContext httpContext, string method, DateTime deadline, CancellationToken cancellationToken)
    {
        HttpContext = httpContext;
        Method = method;
        Deadline = deadline;
        CancellationToken = cancellationToken;
    }

    /// <summary>
    /// A context for calling a service's method from another front door over the same HTTP
    /// request (e.g. JSON over HTTP/1.1, Server-Sent Events): the method runs unchanged, and
    /// <paramref name="startResponse"/> replaces the gRPC response headers when it sends them.
    /// </summary>
    public static ServerCallContext ForHttp(HttpContext httpContext, string method, Func<Metadata, Task> startResponse) =>
        new(httpContext, method, DateTime.MaxValue, httpContext.RequestAborted) { _startResponse = startResponse };

    /// <summary>The full method name, "/package.Service/Method".</summary>
    public string Method { get; }

    /// <summary>When the client stops waiting (UTC); <see cref="DateTime.MaxValue"/> without grpc-timeout.</summary>
    public DateTime Deadline { get; }

    /// <summary>Cancelled when the client cancels, the deadline passes or the server stops.</summary>
    public CancellationToken CancellationToken { get; }

    public HttpContext HttpContext { get; }

    public ClaimsPrincipal User => HttpContext.User;

    /// <summary>The client's address, e.g. "ipv4:127.0.0.1:52314".</summary>
    public string Peer => HttpContext.Connection.RemoteIpAddress is { } address
        ? $"{(address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "ipv6" : "ipv4")}:{address}:{HttpContext.Connection.RemotePort}"
        : "unknown";

    /// <summary>Custom metadata the client sent (transport headers left out, -bin values decoded).</summary>
    public Metadata RequestHeaders => _requestHeaders ??= ReadRequestHeaders(HttpContext.Request.Headers);

    /// <summary>Metadata sent after the last message, with the status.</summary>
    public Metadata ResponseTrailers => _responseTrailers ??= [];

    internal bool HasResponseTrailers => _responseTrailers is { Count: > 0 };

    /// <summary>Compress response messages with gzip when the client accepts it.</summary>
    public bool CompressResponses { get; set; }

    /// <summary>Whether the last request message read arrived compressed.</summary>
    public bool RequestMessageCompressed { get; internal set; }

    internal bool ResponseHeadersSent { get; private set; }

    internal bool ResponseCompressed { get; private set; }

    /// <summary>Sends the response headers now, with custom metadata. At most once, before any message.</summary>
    public async Task WriteResponseHeadersAsync(Metadata headers)
    {
        if (ResponseHeadersSent)
        {
            throw new InvalidOperationException("Response headers were already sent.");
        }

        if (_startResponse is not null)
        {
            ResponseHeadersSent = true;
            await _startResponse(headers).ConfigureAwait(false);
            return;
        }

        var response = HttpContext.Response.Headers;
        foreach (var entry in headers)
        {
            response.Append(entry.Key, entry.WireValue);
        }

        PrepareResponseHeaders();

        // Kestrel's StartAsync only buffers the headers: flush so the client sees them now.
        await HttpContext.Response.StartAsync(CancellationToken).ConfigureAwait(false);
        await HttpContext.Response.BodyWriter.FlushAsync(CancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sets content-type and the encoding; called once before the first byte of the body.</summary>
    internal void PrepareResponseHeaders()
    {
        if (ResponseHeadersSent)
        {
            return;
        }

        ResponseHeadersSent = true;
        var response = HttpContext.Response;
        response.ContentType = GrpcProtocol.ContentType;
        if (CompressResponses && GrpcProtocol.AcceptsEncoding(HttpContext.Request.Headers[GrpcProtocol.AcceptEncodingHeader], GrpcProtocol.GzipEncoding))
        {
            ResponseCompressed = true;
            response.Headers[GrpcProtocol.EncodingHeader] = GrpcProtocol.GzipEncoding;
        }
    }

    private static Metadata ReadRequestHeaders(IHeaderDictionary headers)
    {
        var metadata = new Metadata();
        foreach (var (key, values) in headers)
        {
            if (key.StartsWith(':') || TransportHeaders.Contains(key) || !Metadata.IsValidKey(key))
            {
                // HTTP allows header names ("x!y") that gRPC metadata does not: not metadata.
                continue;
            }

            foreach (var value in (StringValues)values)
            {
                if (value is null)
                {
                    continue;
                }

                if (Metadata.IsBinaryKey(key))
                {
                    // A -bin value may arrive as a comma-separated list of base64 values.
                    foreach (var part in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                    {
                        if (Metadata.TryDecodeBinary(part, out var bytes))
                        {
                            metadata.Add(key, bytes);
                        }
                    }
                }
                else
                {
                    metadata.Add(key, value);
                }
            }
        }

        return metadata;
    }
}
