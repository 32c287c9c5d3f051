using Google.Protobuf;

namespace BedBureau.GrpcServer.Internal;

internal sealed class UnaryCallHandler<TRequest, TResponse>(
    string method, CallHandlerServices services, MessageParser<TRequest> parser, Func<TRequest, ServerCallContext, Task<TResponse>> handler)
    : CallHandler(method, services, streamsResponses: false)
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    protected override async Task InvokeAsync(ServerCallContext context)
    {
        var request = await RequestReader.ReadSingleMessageAsync(context, parser, Services.Options.MaxReceiveMessageSize).ConfigureAwait(false);
        var response = await handler(request, context).ConfigureAwait(false);
        ResponseWriter.WriteMessage(context, response ?? throw new InvalidOperationException($"{Method} returned no message."));
    }
}

internal sealed class ServerStreamingCallHandler<TRequest, TResponse>(
    string method, CallHandlerServices services, MessageParser<TRequest> parser, Func<TRequest, IServerStreamWriter<TResponse>, ServerCallContext, Task> handler)
    : CallHandler(method, services, streamsResponses: true)
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    protected override async Task InvokeAsync(ServerCallContext context)
    {
        var request = await RequestReader.ReadSingleMessageAsync(context, parser, Services.Options.MaxReceiveMessageSize).ConfigureAwait(false);
        var writer = new ResponseStreamWriter<TResponse>(context, Services.Options.StreamWriteTimeout);
        try
        {
            await handler(request, writer, context).ConfigureAwait(false);
        }
        finally
        {
            writer.Completed = true;
        }
    }
}

internal sealed class ClientStreamingCallHandler<TRequest, TResponse>(
    string method, CallHandlerServices services, MessageParser<TRequest> parser, Func<IAsyncStreamReader<TRequest>, ServerCallContext, Task<TResponse>> handler)
    : CallHandler(method, services, streamsResponses: false)
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    protected override async Task InvokeAsync(ServerCallContext context)
    {
        var reader = new RequestStreamReader<TRequest>(context, parser, Services.Options.MaxReceiveMessageSize);
        var response = await handler(reader, context).ConfigureAwait(false);
        ResponseWriter.WriteMessage(context, response ?? throw new InvalidOperationException($"{Method} returned no message."));
    }
}

internal sealed class DuplexStreamingCallHandler<TRequest, TResponse>(
    string method, CallHandlerServices services, MessageParser<TRequest> parser, Func<IAsyncStreamReader<TRequest>, IServerStreamWriter<TResponse>, ServerCallContext, Task> handler)
    : CallHandler(method, services, streamsResponses: true)
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    protected override async Task InvokeAsync(ServerCallContext context)
    {
        var reader = new RequestStreamReader<TRequest>(context, parser, Services.Options.MaxReceiveMessageSize);
        var writer = new ResponseStreamWriter<TResponse>(context, Services.Options.StreamWriteTimeout);
        try
        {
            await handler(reader, writer, context).ConfigureAwait(false);
        }
        finally
        {
            writer.Completed = true;
        }
    }
}

/// <summary>A method of the contract that the service does not implement (yet).</summary>
internal sealed class UnimplementedCallHandler(string method, CallHandlerServices services)
    : CallHandler(method, services, streamsResponses: false)
{
    protected override Task InvokeAsync(ServerCallContext context) =>
        throw new Wire.RpcException(Wire.StatusCode.Unimplemented, $"Method {Method} is not implemented.");
}
