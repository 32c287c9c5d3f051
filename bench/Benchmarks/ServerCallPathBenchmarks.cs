using System.Buffers;
using System.IO.Pipelines;
using BedBureau.Contract.Health.V1;
using BedBureau.Contract.V1;
using BedBureau.GrpcServer;
using BedBureau.Wire;
using BenchmarkDotNet.Attributes;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;

namespace BedBureau.Benchmarks;

/// <summary>
/// One unary call through our server layer exactly as routing invokes it (the endpoint's
/// RequestDelegate from MapGrpcService), on an HttpContext whose features are reused between
/// calls the way Kestrel pools them. Each UnaryCall* has a MessagesOnly* twin doing the same
/// message work without the layer (parse the request, run the handler, frame the response):
/// the layer's cost, time and bytes allocated per call, is the difference.
/// dotnet run -c Release --project bench/Benchmarks -- --filter '*ServerCallPath*' --job short
/// </summary>
[MemoryDiagnoser]
public class ServerCallPathBenchmarks
{
    private readonly BenchServices _services = new();
    private RequestDelegate _healthCheck = null!;
    private RequestDelegate _searchFreeBeds = null!;
    private RequestDelegate _interopUnary = null!;
    private ReusableGrpcContext _interopContext = null!;
    private ReusableGrpcContext _healthContext = null!;
    private ReusableGrpcContext _searchContext = null!;
    private WebApplication _app = null!;

    [GlobalSetup]
    public void Setup()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpcServer();
        builder.Services.AddSingleton(_services);
        _app = builder.Build();
        _app.MapGrpcService<BenchServices>(HealthReflection.Descriptor.FindTypeByName<ServiceDescriptor>("Health"));
        _app.MapGrpcService<BenchServices>(ReferralReflection.Descriptor.FindTypeByName<ServiceDescriptor>("ReferralService"));
        _app.MapGrpcService<InteropHost.TestService>(InteropHost.Testing.TestReflection.Descriptor.FindTypeByName<ServiceDescriptor>("TestService"));
        var endpoints = ((IEndpointRouteBuilder)_app).DataSources.SelectMany(d => d.Endpoints).OfType<RouteEndpoint>().ToList();
        _healthCheck = endpoints.Single(e => e.RoutePattern.RawText == "/grpc.health.v1.Health/Check").RequestDelegate!;
        _searchFreeBeds = endpoints.Single(e => e.RoutePattern.RawText == "/bedbureau.v1.ReferralService/SearchFreeBeds").RequestDelegate!;
        _interopUnary = endpoints.Single(e => e.RoutePattern.RawText == "/grpc.testing.TestService/UnaryCall").RequestDelegate!;
        _interopContext = new ReusableGrpcContext("/grpc.testing.TestService/UnaryCall", MessageFraming.ToFramedBytes(InteropEchoRequest, false));
        _healthContext = new ReusableGrpcContext("/grpc.health.v1.Health/Check", MessageFraming.ToFramedBytes(new HealthCheckRequest { Service = "bedbureau.v1.ReferralService" }, false));
        _searchContext = new ReusableGrpcContext("/bedbureau.v1.ReferralService/SearchFreeBeds", MessageFraming.ToFramedBytes(new SearchFreeBedsRequest { BedProfileCode = "101", RegionCode = "750000", MaxResults = 50 }, false));

        // The layer must really answer: status 0 in the trailers and one framed message.
        foreach (var (call, context) in new[] { (_healthCheck, _healthContext), (_searchFreeBeds, _searchContext), (_interopUnary, _interopContext) })
        {
            context.Reset();
            call(context.HttpContext).GetAwaiter().GetResult();
            if (context.Trailers[GrpcProtocol.StatusHeader] != "0" || context.ResponseBytes < MessageFraming.HeaderSize)
            {
                throw new InvalidOperationException($"The call did not succeed: {context.HttpContext.Response.Headers[GrpcProtocol.MessageHeader]}");
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup() => ((IDisposable)_app).Dispose();

    [Benchmark]
    public Task UnaryCallHealthCheck()
    {
        _healthContext.Reset();
        return _healthCheck(_healthContext.HttpContext);
    }

    [Benchmark]
    public async Task MessagesOnlyHealthCheck()
    {
        _healthContext.Reset();
        var request = ParseRequest(_healthContext, HealthCheckRequest.Parser);
        var response = await _services.Check(request, null!);
        MessageFraming.Write(_healthContext.Body, response);
    }

    [Benchmark]
    public Task UnaryCallSearchFreeBeds()
    {
        _searchContext.Reset();
        return _searchFreeBeds(_searchContext.HttpContext);
    }

    [Benchmark]
    public async Task MessagesOnlySearchFreeBeds()
    {
        _searchContext.Reset();
        var request = ParseRequest(_searchContext, SearchFreeBedsRequest.Parser);
        var response = await _services.SearchFreeBeds(request, null!);
        MessageFraming.Write(_searchContext.Body, response);
    }

    /// <summary>InteropHost's UnaryCall with the request bench/h2load/run.sh sends (64-byte echo).</summary>
    [Benchmark]
    public Task UnaryCallInteropEcho()
    {
        _interopContext.Reset();
        return _interopUnary(_interopContext.HttpContext);
    }

    [Benchmark]
    public async Task MessagesOnlyInteropEcho()
    {
        _interopContext.Reset();
        var request = ParseRequest(_interopContext, InteropHost.Testing.SimpleRequest.Parser);
        // The handler's own message work (its answer of zeros, its Task); its metadata lookups
        // go through ServerCallContext.RequestHeaders and so count as the layer's.
        var response = await Task.FromResult(new InteropHost.Testing.SimpleResponse
        {
            Payload = new InteropHost.Testing.Payload { Body = ByteString.CopyFrom(new byte[request.ResponseSize]) },
        });
        MessageFraming.Write(_interopContext.Body, response);
    }

    private static readonly InteropHost.Testing.SimpleRequest InteropEchoRequest = new()
    {
        ResponseSize = InteropHost.InteropServer.BenchPayloadSize,
        Payload = new InteropHost.Testing.Payload { Body = ByteString.CopyFrom(new byte[InteropHost.InteropServer.BenchPayloadSize]) },
    };

    private static T ParseRequest<T>(ReusableGrpcContext context, MessageParser<T> parser)
        where T : IMessage<T>
    {
        var buffer = new ReadOnlySequence<byte>(context.RequestBytes);
        MessageFraming.TryRead(ref buffer, GrpcProtocol.DefaultMaxReceiveMessageSize, out _, out var payload, out _);
        return parser.ParseFrom(payload);
    }
}

/// <summary>Handlers as an application writes them: one allocates its answer, one serves a cached one.</summary>
public sealed class BenchServices
{
    private static readonly Task<SearchFreeBedsResponse> Offers = Task.FromResult(WireMessages.LargeResponse());

    public Task<HealthCheckResponse> Check(HealthCheckRequest request, ServerCallContext context) =>
        Task.FromResult(new HealthCheckResponse { Status = HealthCheckResponse.Types.ServingStatus.Serving });

    public Task<SearchFreeBedsResponse> SearchFreeBeds(SearchFreeBedsRequest request, ServerCallContext context) => Offers;
}

/// <summary>
/// An HTTP/2 gRPC request's features, reset between calls instead of reallocated (Kestrel
/// pools its per-stream features the same way): request body from a fixed buffer, response
/// body into a reusable buffer, headers and trailers in reused dictionaries.
/// </summary>
internal sealed class ReusableGrpcContext
{
    private readonly HttpResponseFeature _response = new();
    private readonly ResponseTrailersFeature _trailers = new();
    private readonly ArrayPipeReader _requestBody;

    public ReusableGrpcContext(string path, byte[] requestBytes)
    {
        RequestBytes = requestBytes;
        _requestBody = new ArrayPipeReader(requestBytes);
        var request = new HttpRequestFeature { Protocol = "HTTP/2", Method = "POST", Scheme = "http", Path = path };
        request.Headers.ContentType = GrpcProtocol.ContentType;
        request.Headers.TE = "trailers";
        var features = new FeatureCollection();
        features.Set<IHttpRequestFeature>(request);
        features.Set<IHttpResponseFeature>(_response);
        features.Set<IHttpResponseBodyFeature>(new ResponseBodyFeature(Body));
        features.Set<IRequestBodyPipeFeature>(new RequestBodyPipeFeature(_requestBody));
        features.Set<IHttpResponseTrailersFeature>(_trailers);
        features.Set<IHttpRequestLifetimeFeature>(new HttpRequestLifetimeFeature());
        HttpContext = new DefaultHttpContext(features);
    }

    public HttpContext HttpContext { get; }

    public byte[] RequestBytes { get; }

    public BufferPipeWriter Body { get; } = new();

    public IHeaderDictionary Trailers => _trailers.Trailers;

    public int ResponseBytes => Body.Written;

    public void Reset()
    {
        _requestBody.Reset();
        Body.Reset();
        _response.Headers.Clear();
        _response.StatusCode = 200;
        _trailers.Trailers.Clear();
    }

    private sealed class ResponseTrailersFeature : IHttpResponseTrailersFeature
    {
        public IHeaderDictionary Trailers { get; set; } = new HeaderDictionary();
    }

    private sealed class RequestBodyPipeFeature(PipeReader reader) : IRequestBodyPipeFeature
    {
        public PipeReader Reader => reader;
    }

    private sealed class ResponseBodyFeature(PipeWriter writer) : IHttpResponseBodyFeature
    {
        public Stream Stream => throw new NotSupportedException();

        public PipeWriter Writer => writer;

        public Task CompleteAsync() => Task.CompletedTask;

        public void DisableBuffering()
        {
        }

        public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task StartAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;
    }
}

/// <summary>A request body that is all there at once and ends with it.</summary>
internal sealed class ArrayPipeReader(byte[] data) : PipeReader
{
    private int _consumed;

    public void Reset() => _consumed = 0;

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default) =>
        new(new ReadResult(new ReadOnlySequence<byte>(data, _consumed, data.Length - _consumed), isCanceled: false, isCompleted: true));

    public override bool TryRead(out ReadResult result)
    {
        result = new ReadResult(new ReadOnlySequence<byte>(data, _consumed, data.Length - _consumed), false, true);
        return true;
    }

    public override void AdvanceTo(SequencePosition consumed) => _consumed = consumed.GetInteger();

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => AdvanceTo(consumed);

    public override void CancelPendingRead()
    {
    }

    public override void Complete(Exception? exception = null)
    {
    }
}

/// <summary>A response body written into one reused buffer.</summary>
internal sealed class BufferPipeWriter : PipeWriter
{
    private readonly byte[] _buffer = new byte[256 * 1024];

    public int Written { get; private set; }

    public void Reset() => Written = 0;

    public override void Advance(int bytes) => Written += bytes;

    public override Memory<byte> GetMemory(int sizeHint = 0) => _buffer.AsMemory(Written);

    public override Span<byte> GetSpan(int sizeHint = 0) => _buffer.AsSpan(Written);

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => new(new FlushResult(false, false));

    public override void CancelPendingFlush()
    {
    }

    public override void Complete(Exception? exception = null)
    {
    }
}
