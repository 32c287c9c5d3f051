using System.Diagnostics;
using BedBureau.Wire;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace BedBureau.GrpcServer.Internal;

/// <summary>
/// Serves one method: checks the request's protocol, sets up the call (deadline,
/// cancellation), runs the handler and ends the call with its status (PROTOCOL-HTTP2.md).
/// </summary>
internal abstract partial class CallHandler(string method, CallHandlerServices services, bool streamsResponses)
{
    // Longer than any real call; CancellationTokenSource.CancelAfter takes at most ~49 days.
    private static readonly TimeSpan MaxDeadline = TimeSpan.FromDays(30);

    private static readonly string[] StatusCodeText = Enumerable.Range(0, 17).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    protected string Method { get; } = method;

    protected CallHandlerServices Services { get; } = services;

    public async Task HandleAsync(HttpContext httpContext)
    {
        var request = httpContext.Request;
        if (!HttpProtocol.IsHttp2(request.Protocol))
        {
            // gRPC needs HTTP/2 trailers; grpc-dotnet answers the same way.
            httpContext.Response.StatusCode = StatusCodes.Status426UpgradeRequired;
            httpContext.Response.Headers.Connection = "Upgrade";
            httpContext.Response.Headers.Upgrade = "HTTP/2";
            return;
        }

        if (!GrpcProtocol.IsGrpcContentType(request.ContentType))
        {
            // PROTOCOL-HTTP2.md: servers SHOULD answer 415 to another content-type.
            httpContext.Response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
            var unsupported = new Status(StatusCode.Internal, $"Content-Type '{request.ContentType}' is not supported.");
            WriteTrailersOnly(httpContext.Response, unsupported, null);
            LogCallFailed(Services.Logger, LogLevel.Information, Method, unsupported.Code, 0, unsupported.Detail);
            return;
        }

        var encoding = request.Headers[GrpcProtocol.EncodingHeader].ToString();
        if (encoding.Length > 0 && encoding != GrpcProtocol.IdentityEncoding && encoding != GrpcProtocol.GzipEncoding)
        {
            // compression.md: an unsupported encoding is UNIMPLEMENTED, listing what we accept.
            httpContext.Response.Headers[GrpcProtocol.AcceptEncodingHeader] = GrpcProtocol.SupportedEncodings;
            var unsupported = new Status(StatusCode.Unimplemented, $"Unsupported grpc-encoding value '{encoding}'. Supported encodings: {GrpcProtocol.SupportedEncodings}");
            WriteTrailersOnly(httpContext.Response, unsupported, null);
            LogCallFailed(Services.Logger, LogLevel.Information, Method, unsupported.Code, 0, unsupported.Detail);
            return;
        }

        var started = Stopwatch.GetTimestamp();
        var aborted = httpContext.RequestAborted;
        var deadline = DateTime.MaxValue;
        CancellationTokenSource? callCancellation = null;
        if (GrpcTimeout.TryParse(request.Headers[GrpcProtocol.TimeoutHeader], out var timeout) && timeout < MaxDeadline)
        {
            deadline = DateTime.UtcNow + timeout;
            callCancellation = CancellationTokenSource.CreateLinkedTokenSource(aborted, streamsResponses ? Services.Stopping : CancellationToken.None);
            callCancellation.CancelAfter(timeout);
        }
        else if (streamsResponses)
        {
            // Long-lived streams end when the server stops, so that shutdown drains.
            callCancellation = CancellationTokenSource.CreateLinkedTokenSource(aborted, Services.Stopping);
        }

        var context = new ServerCallContext(httpContext, Method, deadline, callCancellation?.Token ?? aborted);
        Status status;
        try
        {
            await InvokeAsync(context).ConfigureAwait(false);
            status = deadline != DateTime.MaxValue && callCancellation!.IsCancellationRequested && !aborted.IsCancellationRequested && !Services.Stopping.IsCancellationRequested
                ? DeadlineExceeded
                : Status.Ok;
        }
        catch (RpcException ex)
        {
            status = ex.Status;
            foreach (var entry in ex.Trailers)
            {
                AddEntry(context.ResponseTrailers, entry);
            }
        }
        catch (Exception ex) when (!aborted.IsCancellationRequested && Services.Options.MapException?.Invoke(ex) is { } mapped)
        {
            status = mapped;
        }
        catch (Exception) when (aborted.IsCancellationRequested)
        {
            // The client cancelled or went away: the stream is reset, nothing to answer.
            ClientCancelled(started);
            return;
        }
        catch (Exception) when (callCancellation is { IsCancellationRequested: true } && Services.Stopping.IsCancellationRequested)
        {
            status = new Status(StatusCode.Unavailable, "The server is shutting down.");
        }
        catch (Exception) when (callCancellation is { IsCancellationRequested: true })
        {
            status = DeadlineExceeded;
        }
        catch (Exception ex)
        {
            // Never leak a handler's exception text to the caller.
            LogHandlerFailed(Services.Logger, Method, ex);
            status = new Status(StatusCode.Unknown, "Exception was thrown by handler.");
        }
        finally
        {
            callCancellation?.Dispose();
        }

        if (aborted.IsCancellationRequested)
        {
            ClientCancelled(started);
            return;
        }

        if (context.ResponseHeadersSent)
        {
            WriteTrailers(httpContext.Response, status, context);
        }
        else
        {
            WriteTrailersOnly(httpContext.Response, status, context);
        }

        Services.Metrics.CallEnded(Method, status.Code, started);
        if (status.Code != StatusCode.OK)
        {
            LogCallFailed(Services.Logger, LevelOf(status.Code), Method, status.Code, Stopwatch.GetElapsedTime(started).TotalMilliseconds, status.Detail);
        }
    }

    /// <summary>A client that hangs up (an ended stream, a closed page) is routine, not a failure of ours: Debug.</summary>
    private void ClientCancelled(long started)
    {
        Services.Metrics.CallEnded(Method, StatusCode.Cancelled, started);
        LogCallFailed(Services.Logger, LogLevel.Debug, Method, StatusCode.Cancelled, Stopwatch.GetElapsedTime(started).TotalMilliseconds, "The client cancelled the call.");
    }

    /// <summary>Faults of the service or its dependencies warn; what the caller got wrong is information.</summary>
    private static LogLevel LevelOf(StatusCode code) => code switch
    {
        StatusCode.Unknown or StatusCode.Internal or StatusCode.Unavailable or StatusCode.DataLoss or StatusCode.ResourceExhausted => LogLevel.Warning,
        _ => LogLevel.Information,
    };

    private static readonly Status DeadlineExceeded = new(StatusCode.DeadlineExceeded, "Deadline Exceeded");

    /// <summary>Reads the request, runs the handler and writes the response messages.</summary>
    protected abstract Task InvokeAsync(ServerCallContext context);

    internal static void WriteTrailersOnly(HttpResponse response, Status status, ServerCallContext? context)
    {
        // PROTOCOL-HTTP2.md: Trailers-Only, the status in the only HEADERS frame.
        response.ContentType = GrpcProtocol.ContentType;
        var headers = response.Headers;
        headers[GrpcProtocol.StatusHeader] = CodeText(status.Code);
        if (!string.IsNullOrEmpty(status.Detail))
        {
            headers[GrpcProtocol.MessageHeader] = EncodeMessage(status.Detail);
        }

        if (context is { HasResponseTrailers: true })
        {
            foreach (var entry in context.ResponseTrailers)
            {
                headers.Append(entry.Key, entry.WireValue);
            }
        }
    }

    private static void WriteTrailers(HttpResponse response, Status status, ServerCallContext context)
    {
        response.AppendTrailer(GrpcProtocol.StatusHeader, CodeText(status.Code));
        if (!string.IsNullOrEmpty(status.Detail))
        {
            response.AppendTrailer(GrpcProtocol.MessageHeader, EncodeMessage(status.Detail));
        }

        if (context.HasResponseTrailers)
        {
            foreach (var entry in context.ResponseTrailers)
            {
                response.AppendTrailer(entry.Key, entry.WireValue);
            }
        }
    }

    /// <summary>
    /// A code outside 0..16 (an application passing any int) is not a gRPC status: statuscodes.md
    /// has clients read it as UNKNOWN, so it is sent as UNKNOWN.
    /// </summary>
    private static string CodeText(StatusCode code) => (uint)code < (uint)StatusCodeText.Length ? StatusCodeText[(int)code] : StatusCodeText[(int)StatusCode.Unknown];

    /// <summary>
    /// The percent-encoded grpc-message, cut to <see cref="MaxMessageLength"/>: clients refuse
    /// larger metadata (grpc-core's default limit is 8 KB in all), which would hide the status.
    /// </summary>
    internal static string EncodeMessage(string detail)
    {
        var encoded = PercentEncoding.Encode(detail);
        if (encoded.Length <= MaxMessageLength)
        {
            return encoded;
        }

        // Cut whole characters (never a %XX sequence or half a surrogate pair) and say so.
        var kept = detail.Length;
        while (encoded.Length > MaxMessageLength - 3)
        {
            kept = Math.Min(kept - 1, kept * (MaxMessageLength - 3) / encoded.Length);
            if (kept > 0 && char.IsHighSurrogate(detail[kept - 1]))
            {
                kept--;
            }

            encoded = PercentEncoding.Encode(detail[..kept]);
        }

        return encoded + "...";
    }

    /// <summary>Longest grpc-message sent, after percent-encoding.</summary>
    internal const int MaxMessageLength = 2048;

    private static void AddEntry(Metadata metadata, Metadata.Entry entry)
    {
        if (entry.BinaryValue is { } bytes)
        {
            metadata.Add(entry.Key, bytes);
        }
        else
        {
            metadata.Add(entry.Key, entry.Value!);
        }
    }

    /// <summary>
    /// One line per failed call. The detail is the status message the caller got, which never
    /// holds personal data (no IIN, no access key); request messages and metadata are never logged.
    /// </summary>
    [LoggerMessage(EventName = "CallFailed", Message = "{Method} failed with {StatusCode} in {ElapsedMilliseconds:F1} ms: {Detail}")]
    private static partial void LogCallFailed(ILogger logger, LogLevel level, string method, StatusCode statusCode, double elapsedMilliseconds, string detail);

    [LoggerMessage(Level = LogLevel.Error, Message = "Handler of {Method} failed")]
    private static partial void LogHandlerFailed(ILogger logger, string method, Exception exception);
}
