using System.Net;
using Google.Protobuf;

namespace BedBureau.Wire.Client;

/// <summary>A server-streaming call: read ResponseStream to the end; a non-OK status throws there.</summary>
public sealed class ServerStreamingCall<TResponse> : IDisposable
    where TResponse : class, IMessage<TResponse>
{
    private readonly ClientCall<TResponse> _call;
    private readonly Task _started;

    internal ServerStreamingCall(ClientCall<TResponse> call, Task started)
    {
        _call = call;
        _started = started;
        ResponseStream = new ResponseStreamReader<TResponse>(call, started);
    }

    public IAsyncStreamReader<TResponse> ResponseStream { get; }

    /// <summary>The response headers, once the server has sent them (a non-OK Trailers-Only status throws here).</summary>
    public async Task<Metadata> ResponseHeadersAsync()
    {
        await _started.ConfigureAwait(false);
        return _call.ResponseHeaders;
    }

    public Metadata Trailers => _call.Trailers;

    public Status? Status => _call.Status;

    /// <summary>Ends the call; if it is still running, the server sees it cancelled.</summary>
    public void Dispose() => _call.Dispose();
}

/// <summary>
/// A client- or bidirectional-streaming call: write RequestStream and complete it; read
/// ResponseStream (or ResponseAsync for a client-streaming method's one response).
/// </summary>
public sealed class DuplexStreamingCall<TRequest, TResponse> : IDisposable
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private readonly ClientCall<TResponse> _call;
    private readonly Task _started;

    internal DuplexStreamingCall(ClientCall<TResponse> call, Task started, RequestStreamWriter<TRequest> requestStream)
    {
        _call = call;
        _started = started;
        RequestStream = requestStream;
        requestStream.CallEnded = started;
        ResponseStream = new ResponseStreamReader<TResponse>(call, started);
    }

    public RequestStreamWriter<TRequest> RequestStream { get; }

    public IAsyncStreamReader<TResponse> ResponseStream { get; }

    public Metadata Trailers => _call.Trailers;

    public Status? Status => _call.Status;

    public async Task<Metadata> ResponseHeadersAsync()
    {
        await _started.ConfigureAwait(false);
        return _call.ResponseHeaders;
    }

    /// <summary>The single response of a client-streaming method, after its OK status.</summary>
    public async Task<TResponse> ResponseAsync()
    {
        if (!await ResponseStream.MoveNext().ConfigureAwait(false))
        {
            throw new RpcException(StatusCode.Internal, "The server sent no response message and status OK.");
        }

        var response = ResponseStream.Current;
        if (await ResponseStream.MoveNext().ConfigureAwait(false))
        {
            throw new RpcException(StatusCode.Internal, "The server sent more than one response message.");
        }

        return response;
    }

    public void Dispose()
    {
        RequestStream.Abandon();
        _call.Dispose();
    }
}

internal sealed class ResponseStreamReader<TResponse>(ClientCall<TResponse> call, Task started) : IAsyncStreamReader<TResponse>
    where TResponse : class, IMessage<TResponse>
{
    private TResponse? _current;

    public TResponse Current => _current ?? throw new InvalidOperationException("No current message: call MoveNext first.");

    public async Task<bool> MoveNext(CancellationToken cancellationToken = default)
    {
        await started.WaitAsync(cancellationToken).ConfigureAwait(false);
        _current = await call.ReadMessageAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        if (_current is not null)
        {
            return true;
        }

        await call.ReadStatusAsync().ConfigureAwait(false);
        return false;
    }
}

/// <summary>The request messages of a streaming call, sent as they are written.</summary>
public sealed class RequestStreamWriter<TRequest>
    where TRequest : class, IMessage<TRequest>
{
    private readonly StreamingRequestContent _content;
    private readonly bool _compress;

    internal RequestStreamWriter(StreamingRequestContent content, bool compress)
    {
        _content = content;
        _compress = compress;
    }

    internal Task CallEnded { get; set; } = Task.CompletedTask;

    public async Task WriteAsync(TRequest message, CancellationToken cancellationToken = default)
    {
        var ready = _content.Stream;
        if (!ready.IsCompleted)
        {
            // A call that fails before sending (no connection, say) must not leave writers waiting.
            await Task.WhenAny(ready, CallEnded).WaitAsync(cancellationToken).ConfigureAwait(false);
            if (!ready.IsCompleted)
            {
                await CallEnded.ConfigureAwait(false);
                await ready.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        var stream = await ready.ConfigureAwait(false);
        var bytes = MessageFraming.ToFramedBytes(message, _compress);
        await stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Tells the server no more messages follow (END_STREAM).</summary>
    public Task CompleteAsync()
    {
        _content.Complete();
        return Task.CompletedTask;
    }

    internal void Abandon() => _content.Complete();
}

/// <summary>Request content that stays open while the caller writes messages (full duplex).</summary>
internal sealed class StreamingRequestContent : HttpContent
{
    private readonly TaskCompletionSource<Stream> _stream = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<Stream> Stream => _stream.Task;

    public void Complete() => _completed.TrySetResult();

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        _stream.TrySetResult(stream);
        await _completed.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override bool TryComputeLength(out long length)
    {
        length = -1;
        return false;
    }
}
