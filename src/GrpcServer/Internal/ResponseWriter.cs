using BedBureau.Wire;
using Google.Protobuf;

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

/// <summary>The response stream of a streaming call; each message is flushed as it is written.</summary>
internal sealed class ResponseStreamWriter<T>(ServerCallContext context) : IServerStreamWriter<T>
    where T : class, IMessage<T>
{
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
            await context.HttpContext.Response.BodyWriter.FlushAsync(token).ConfigureAwait(false);
        }
        finally
        {
            Volatile.Write(ref _writing, 0);
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
