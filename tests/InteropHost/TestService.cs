using BedBureau.GrpcServer;
using BedBureau.InteropHost.Testing;
using BedBureau.Wire;
using Google.Protobuf;

namespace BedBureau.InteropHost;

/// <summary>
/// grpc.testing.TestService as interop-test-descriptions.md asks of a server. UnimplementedCall
/// is left out on purpose: the unimplemented_method case expects UNIMPLEMENTED.
/// </summary>
public sealed class TestService
{
    private const string EchoInitialKey = "x-grpc-test-echo-initial";
    private const string EchoTrailingKey = "x-grpc-test-echo-trailing-bin";

    public Task<Empty> EmptyCall(Empty request, ServerCallContext context) => Task.FromResult(new Empty());

    public async Task<SimpleResponse> UnaryCall(SimpleRequest request, ServerCallContext context)
    {
        await EchoMetadataAsync(context).ConfigureAwait(false);
        if (request.ExpectCompressed?.Value == true && !context.RequestMessageCompressed)
        {
            throw new RpcException(StatusCode.InvalidArgument, "Expected a compressed request message.");
        }

        ThrowRequestedStatus(request.ResponseStatus);
        context.CompressResponses = request.ResponseCompressed?.Value == true;
        return new SimpleResponse { Payload = Zeros(request.ResponseSize) };
    }

    public Task<SimpleResponse> CacheableUnaryCall(SimpleRequest request, ServerCallContext context) => UnaryCall(request, context);

    public async Task StreamingOutputCall(StreamingOutputCallRequest request, IServerStreamWriter<StreamingOutputCallResponse> responseStream, ServerCallContext context)
    {
        await EchoMetadataAsync(context).ConfigureAwait(false);
        foreach (var parameters in request.ResponseParameters)
        {
            await WriteAsync(responseStream, parameters, context).ConfigureAwait(false);
        }

        ThrowRequestedStatus(request.ResponseStatus);
    }

    public async Task<StreamingInputCallResponse> StreamingInputCall(IAsyncStreamReader<StreamingInputCallRequest> requestStream, ServerCallContext context)
    {
        var total = 0;
        await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken).ConfigureAwait(false))
        {
            if (request.ExpectCompressed?.Value == true && !context.RequestMessageCompressed)
            {
                throw new RpcException(StatusCode.InvalidArgument, "Expected a compressed request message.");
            }

            total += request.Payload?.Body.Length ?? 0;
        }

        return new StreamingInputCallResponse { AggregatedPayloadSize = total };
    }

    public async Task FullDuplexCall(IAsyncStreamReader<StreamingOutputCallRequest> requestStream, IServerStreamWriter<StreamingOutputCallResponse> responseStream, ServerCallContext context)
    {
        await EchoMetadataAsync(context).ConfigureAwait(false);
        await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken).ConfigureAwait(false))
        {
            ThrowRequestedStatus(request.ResponseStatus);
            foreach (var parameters in request.ResponseParameters)
            {
                await WriteAsync(responseStream, parameters, context).ConfigureAwait(false);
            }
        }
    }

    public async Task HalfDuplexCall(IAsyncStreamReader<StreamingOutputCallRequest> requestStream, IServerStreamWriter<StreamingOutputCallResponse> responseStream, ServerCallContext context)
    {
        var requests = new List<StreamingOutputCallRequest>();
        await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken).ConfigureAwait(false))
        {
            requests.Add(request);
        }

        foreach (var parameters in requests.SelectMany(r => r.ResponseParameters))
        {
            await WriteAsync(responseStream, parameters, context).ConfigureAwait(false);
        }
    }

    private static async Task WriteAsync(IServerStreamWriter<StreamingOutputCallResponse> responseStream, ResponseParameters parameters, ServerCallContext context)
    {
        if (parameters.IntervalUs > 0)
        {
            await Task.Delay(TimeSpan.FromMicroseconds(parameters.IntervalUs), context.CancellationToken).ConfigureAwait(false);
        }

        await responseStream.WriteAsync(new StreamingOutputCallResponse { Payload = Zeros(parameters.Size) }).ConfigureAwait(false);
    }

    private static Task EchoMetadataAsync(ServerCallContext context)
    {
        // custom_metadata: echo the initial value in the headers, the binary one in the trailers.
        if (context.RequestHeaders.Get(EchoTrailingKey)?.BinaryValue is { } trailing)
        {
            context.ResponseTrailers.Add(EchoTrailingKey, trailing);
        }

        if (context.RequestHeaders.GetValue(EchoInitialKey) is { } initial)
        {
            return context.WriteResponseHeadersAsync(new Metadata { { EchoInitialKey, initial } });
        }

        return Task.CompletedTask;
    }

    private static void ThrowRequestedStatus(EchoStatus? status)
    {
        if (status is { Code: not 0 })
        {
            throw new RpcException((StatusCode)status.Code, status.Message);
        }
    }

    private static Payload Zeros(int size) => new() { Type = PayloadType.Compressable, Body = ByteString.CopyFrom(new byte[size]) };
}
