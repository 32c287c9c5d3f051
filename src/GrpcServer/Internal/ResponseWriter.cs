using BedBureau.Wire;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace BedBureau.GrpcServer.Internal;

/// <summary>Writes framed response messages into the response body.</summary>
internal static class ResponseWriter
{
    public static void WriteMessage(ServerCallContext context, IMessage message)
    {
        context.PrepareResponseHeaders();
        var writer = context.HttpContext.Response.BodyWriter;
        if (context.ResponseCompressed && context.CompressResponses)
        {
            MessageFraming.WriteCompressed(writer, message);
        }
        else
        {
            MessageFraming.Write(writer, message);
        }
    }
}

/// <summary>
/// The response stream of a streaming call; each message is flushed as it is written. A flush
/// the client holds back longer than <paramref name="stallTimeout"/> resets the stream.
/// </summary>
internal sealed class ResponseStreamWriter<T>(ServerCallContext context, TimeSpan stallTimeout) : IServerStreamWriter<T>
    where T : class, IMessage<T>
{
    // RFC 9113 section 7: ENHANCE_YOUR_CALM; PROTOCOL-HTTP2.md maps it to RESOURCE_EXHAUSTED.
    private const int EnhanceYourCalm = 0xb;

    private int _writing;

    public bool Completed { get; set; }

    public async Task WriteAsync(T message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (Completed)
        {
            throw new InvalidOperationException("The call is complete: no more messages can be written.");
        }

        if (Interlocked.Exchange(ref _writing, 1) == 1)
        {
            throw new InvalidOperationException("A previous write is still in progress.");
        }

        try
        {
            ResponseWriter.WriteMessage(context, message);
            var token = cancellationToken.CanBeCanceled ? cancellationToken : context.CancellationToken;

            // A reader that stops reading blocks this flush (HTTP/2 flow control), never memory.
            var flush = context.HttpContext.Response.BodyWriter.FlushAsync(token);
            if (!flush.IsCompletedSuccessfully)
            {
                await FlushHeldBackAsync(flush).ConfigureAwait(false);
            }
        }
        finally
        {
            Volatile.Write(ref _writing, 0);
        }
    }

    /// <summary>
    /// Waits for a flush the client holds back, but not forever: a stalled reader would keep
    /// its handler, its buffers (a watch subscription) and its stream slot for good.
    /// </summary>
    private async Task FlushHeldBackAsync(ValueTask<System.IO.Pipelines.FlushResult> flush)
    {
        if (stallTimeout <= TimeSpan.Zero || stallTimeout == Timeout.InfiniteTimeSpan)
        {
            await flush.ConfigureAwait(false);
            return;
        }

        using var stall = new CancellationTokenSource(stallTimeout);
        using var reset = stall.Token.UnsafeRegister(static state => Reset((HttpContext)state!), context.HttpContext);
        await flush.ConfigureAwait(false);
        if (stall.IsCancellationRequested)
        {
            throw new OperationCanceledException("The client did not read the response stream within the stream write timeout.");
        }
    }

    private static void Reset(HttpContext httpContext)
    {
        // Trailers would queue behind the data the client does not take: only a reset reaches it.
        if (httpContext.Features.Get<IHttpResetFeature>() is { } resetFeature)
        {
            resetFeature.Reset(EnhanceYourCalm);
        }
        else
        {
            httpContext.Abort();
        }
    }
}

/// <summary>The request stream of a client- or bidirectional-streaming call.</summary>
internal sealed class RequestStreamReader<T>(ServerCallContext context, MessageParser<T> parser, int maxMessageSize) : IAsyncStreamReader<T>
    where T : class, IMessage<T>
{
    private T? _current;

    public T Current => _current ?? throw new InvalidOperationException("No current message: call MoveNext first.");

    public async Task<bool> MoveNext(CancellationToken cancellationToken = default)
    {
        var token = cancellationToken.CanBeCanceled ? cancellationToken : context.CancellationToken;
        _current = await RequestReader.ReadMessageAsync(context, parser, maxMessageSize, token).ConfigureAwait(false);
        return _current is not null;
    }
}
