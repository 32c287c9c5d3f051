using System.Net;
using BedBureau.InteropHost.Testing;
using BedBureau.Wire;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;

namespace BedBureau.GrpcServer.Tests.Infrastructure;

/// <summary>
/// Real Kestrel (h2c) serving <see cref="ProbeService"/> under grpc.testing.TestService's
/// descriptor, and an HttpClient that posts raw frames to it over HTTP/2 prior knowledge.
/// </summary>
public sealed class ProbeHost : IAsyncDisposable
{
    /// <summary>A small receive limit, so that the over-limit test sends little.</summary>
    public const int MaxReceiveMessageSize = 64 * 1024;

    private readonly WebApplication _app;

    private ProbeHost(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
        Client = new HttpClient(new SocketsHttpHandler { EnableMultipleHttp2Connections = true }) { BaseAddress = address };
    }

    public Uri Address { get; }

    public HttpClient Client { get; }

    public ProbeService Service => _app.Services.GetRequiredService<ProbeService>();

    public static async Task<ProbeHost> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Critical);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(10));
        builder.Services.AddGrpcServer(o => o.MaxReceiveMessageSize = MaxReceiveMessageSize);
        builder.Services.AddSingleton<ProbeService>();
        var app = builder.Build();
        app.MapGrpcService<ProbeService>(TestReflection.Descriptor.FindTypeByName<ServiceDescriptor>("TestService"));
        app.MapGrpcUnimplemented();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new ProbeHost(app, new Uri(address));
    }

    public Task StopAsync() => _app.StopAsync();

    /// <summary>A gRPC POST with the given body (already framed) and headers.</summary>
    public static HttpRequestMessage Request(string path, HttpContent? body, string contentType = GrpcProtocol.ContentType, params (string Key, string Value)[] headers)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = body ?? new ByteArrayContent([]),
        };
        request.Content.Headers.TryAddWithoutValidation("content-type", contentType);
        request.Headers.TryAddWithoutValidation("te", "trailers");
        foreach (var (key, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(key, value);
        }

        return request;
    }

    /// <summary>The 5-byte prefix and the bytes of one Length-Prefixed-Message.</summary>
    public static byte[] Frame(ReadOnlySpan<byte> payload, bool compressed = false, int? declaredLength = null)
    {
        var frame = new byte[MessageFraming.HeaderSize + payload.Length];
        frame[0] = compressed ? (byte)1 : (byte)0;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)(declaredLength ?? payload.Length));
        payload.CopyTo(frame.AsSpan(MessageFraming.HeaderSize));
        return frame;
    }

    public static byte[] Frame(IMessage message) => Frame(message.ToByteArray());

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.DisposeAsync();
    }
}

/// <summary>What the probe handlers do, chosen per call by the "x-probe" request header.</summary>
public sealed class ProbeService
{
    public const string SecretText = "connection string Host=db;Password=hunter2";

    /// <summary>Set when a "wait-for-cancel" handler saw its cancellation token fire.</summary>
    public TaskCompletionSource HandlerCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set when a "hold" handler has started; it then waits for <see cref="Release"/>.</summary>
    public TaskCompletionSource HoldEntered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<Empty> EmptyCall(Empty request, ServerCallContext context) => Task.FromResult(new Empty());

    public async Task<SimpleResponse> UnaryCall(SimpleRequest request, ServerCallContext context)
    {
        var probe = context.RequestHeaders.GetValue("x-probe");
        if (probe?.StartsWith("reset:", StringComparison.Ordinal) == true)
        {
            // RST_STREAM with the given HTTP/2 error code, before any response header.
            context.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResetFeature>()!.Reset(int.Parse(probe[6..], System.Globalization.CultureInfo.InvariantCulture));
            await Task.Delay(Timeout.Infinite, context.CancellationToken);
        }

        switch (probe)
        {
            case "throw":
                throw new InvalidOperationException(SecretText);
            case "wait-for-cancel":
                try
                {
                    await Task.Delay(Timeout.Infinite, context.CancellationToken);
                }
                catch (OperationCanceledException)
                {
                    HandlerCancelled.TrySetResult();
                    throw;
                }

                break;
            case "hold":
                HoldEntered.TrySetResult();

                // Not observing cancellation: the call must still finish while the server drains.
                await Release.Task;
                break;
            case "echo-metadata":
                var echoed = new Metadata();
                foreach (var entry in context.RequestHeaders)
                {
                    if (entry.Key.StartsWith("x-echo-", StringComparison.Ordinal))
                    {
                        if (entry.BinaryValue is { } bytes)
                        {
                            echoed.Add(entry.Key, bytes);
                            context.ResponseTrailers.Add(entry.Key, bytes);
                        }
                        else
                        {
                            echoed.Add(entry.Key, entry.Value!);
                            context.ResponseTrailers.Add(entry.Key, entry.Value!);
                        }
                    }
                }

                await context.WriteResponseHeadersAsync(echoed);
                break;
        }

        if (request.ResponseStatus is { Code: not 0 } status)
        {
            throw new RpcException((StatusCode)status.Code, status.Message);
        }

        context.CompressResponses = request.ResponseCompressed?.Value == true;
        return new SimpleResponse { Payload = new Payload { Body = ByteString.CopyFrom(new byte[request.ResponseSize]) } };
    }

    public async Task StreamingOutputCall(StreamingOutputCallRequest request, IServerStreamWriter<StreamingOutputCallResponse> responseStream, ServerCallContext context)
    {
        foreach (var parameters in request.ResponseParameters)
        {
            await responseStream.WriteAsync(new StreamingOutputCallResponse { Payload = new Payload { Body = ByteString.CopyFrom(new byte[parameters.Size]) } });
        }

        if (request.ResponseStatus is { Code: not 0 } status)
        {
            throw new RpcException((StatusCode)status.Code, status.Message);
        }
    }
}
