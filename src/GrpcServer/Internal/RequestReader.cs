using System.IO.Pipelines;
using BedBureau.Wire;
using Google.Protobuf;

namespace BedBureau.GrpcServer.Internal;

/// <summary>Reads framed request messages from the request body (PROTOCOL-HTTP2.md).</summary>
internal static class RequestReader
{
    /// <summary>The next message, or null when the client finished sending.</summary>
    public static async ValueTask<T?> ReadMessageAsync<T>(ServerCallContext context, MessageParser<T> parser, int maxMessageSize, CancellationToken cancellationToken)
        where T : class, IMessage<T>
    {
        var reader = context.HttpContext.Request.BodyReader;
        while (true)
        {
            ReadResult result;
            try
            {
                result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (IOException ex)
            {
                // The stream was reset or its connection failed (Kestrel may signal RequestAborted
                // only after this): the client is gone, which is CANCELLED, not a handler failure.
                throw new RpcException(StatusCode.Cancelled, ex.Message);
            }

            var buffer = result.Buffer;
            switch (MessageFraming.TryRead(ref buffer, maxMessageSize, out var compressed, out var payload, out var length))
            {
                case FrameReadResult.Message:
                    try
                    {
                        return Parse(context, parser, payload, compressed, maxMessageSize);
                    }
                    finally
                    {
                        reader.AdvanceTo(buffer.Start);
                    }

                case FrameReadResult.TooLarge:
                    // Answered from the prefix alone: the body is never buffered.
                    reader.AdvanceTo(result.Buffer.Start);
                    throw new RpcException(StatusCode.ResourceExhausted, $"Received message larger than max ({length} vs. {maxMessageSize})");

                default:
                    if (result.IsCompleted)
                    {
                        var leftover = result.Buffer.Length;
                        reader.AdvanceTo(result.Buffer.End);
                        return leftover == 0 ? null : throw new RpcException(StatusCode.Internal, "Incomplete message.");
                    }

                    if (result.IsCanceled)
                    {
                        throw new OperationCanceledException(cancellationToken);
                    }

                    reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                    break;
            }
        }
    }

    /// <summary>
    /// The one message of a unary or server-streaming request. The body is read to its end
    /// (the request is one message), refusing a too-large prefix as soon as it arrives; when
    /// the whole body is already buffered, as it usually is for small requests, nothing awaits
    /// and no async state is allocated.
    /// </summary>
    public static ValueTask<T> ReadSingleMessageAsync<T>(ServerCallContext context, MessageParser<T> parser, int maxMessageSize)
        where T : class, IMessage<T>
    {
        var reader = context.HttpContext.Request.BodyReader;
        if (reader.TryRead(out var result))
        {
            if (TryReadWholeBody(context, parser, maxMessageSize, reader, result, out var message))
            {
                return new ValueTask<T>(message);
            }

            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }

        return ReadSingleMessageSlowAsync(context, parser, maxMessageSize, reader);
    }

    private static async ValueTask<T> ReadSingleMessageSlowAsync<T>(ServerCallContext context, MessageParser<T> parser, int maxMessageSize, PipeReader reader)
        where T : class, IMessage<T>
    {
        while (true)
        {
            var result = await reader.ReadAsync(context.CancellationToken).ConfigureAwait(false);
            if (TryReadWholeBody(context, parser, maxMessageSize, reader, result, out var message))
            {
                return message;
            }

            if (result.IsCanceled)
            {
                throw new OperationCanceledException(context.CancellationToken);
            }

            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    /// <summary>
    /// Parses the single message once the body has ended (consuming it); false while more is to
    /// come. Throws RESOURCE_EXHAUSTED from the prefix alone, INTERNAL for a missing,
    /// truncated or trailing message.
    /// </summary>
    private static bool TryReadWholeBody<T>(ServerCallContext context, MessageParser<T> parser, int maxMessageSize, PipeReader reader, ReadResult result, out T message)
        where T : class, IMessage<T>
    {
        message = null!;
        var buffer = result.Buffer;
        var frame = MessageFraming.TryRead(ref buffer, maxMessageSize, out var compressed, out var payload, out var length);
        if (frame == FrameReadResult.TooLarge)
        {
            reader.AdvanceTo(result.Buffer.Start);
            throw new RpcException(StatusCode.ResourceExhausted, $"Received message larger than max ({length} vs. {maxMessageSize})");
        }

        if (!result.IsCompleted)
        {
            return false;
        }

        try
        {
            if (frame == FrameReadResult.Incomplete)
            {
                throw new RpcException(StatusCode.Internal, result.Buffer.IsEmpty ? "Request did not include a message." : "Incomplete message.");
            }

            if (!buffer.IsEmpty)
            {
                throw new RpcException(StatusCode.Internal, "Additional data after the message received.");
            }

            message = Parse(context, parser, payload, compressed, maxMessageSize);
            return true;
        }
        finally
        {
            reader.AdvanceTo(result.Buffer.End);
        }
    }

    private static T Parse<T>(ServerCallContext context, MessageParser<T> parser, System.Buffers.ReadOnlySequence<byte> payload, bool compressed, int maxMessageSize)
        where T : class, IMessage<T>
    {
        context.RequestMessageCompressed = compressed;
        try
        {
            if (!compressed)
            {
                return parser.ParseFrom(payload);
            }

            var encoding = context.HttpContext.Request.Headers[GrpcProtocol.EncodingHeader].ToString();
            if (encoding != GrpcProtocol.GzipEncoding)
            {
                // compression.md: a compressed message needs a grpc-encoding other than identity.
                throw new RpcException(StatusCode.Internal, "Request sent with the compressed flag but without grpc-encoding.");
            }

            if (!GzipCodec.TryDecompress(payload, maxMessageSize, out var plain))
            {
                throw new RpcException(StatusCode.ResourceExhausted, $"Decompressed message larger than max ({maxMessageSize}).");
            }

            return parser.ParseFrom(plain);
        }
        catch (InvalidDataException)
        {
            throw new RpcException(StatusCode.Internal, "Failed to decompress the request message.");
        }
        catch (Exception ex) when (ex is InvalidProtocolBufferException or System.Text.DecoderFallbackException)
        {
            // A proto3 string that is not UTF-8 makes the message invalid, like any other parse error.
            throw new RpcException(StatusCode.Internal, "Failed to deserialize the request message.");
        }
    }
}
