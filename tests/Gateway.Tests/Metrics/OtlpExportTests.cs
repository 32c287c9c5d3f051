using System.Collections.Concurrent;
using System.Diagnostics;
using BedBureau.Contract.V1;
using BedBureau.Gateway.Tests.EndToEnd;
using BedBureau.Wire.Client;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace BedBureau.Gateway.Tests.Metrics;

/// <summary>
/// A gateway with Otlp:Endpoint set pushes its metrics to a real OTLP/HTTP receiver (Kestrel,
/// POST /v1/metrics, protobuf), which reads the metric names out of the protobuf it gets.
/// </summary>
public sealed class OtlpExportTests : IAsyncLifetime
{
    private readonly ConcurrentQueue<(string? ContentType, byte[] Body)> _received = new();
    private readonly DirectoryInfo _receiverRoot = Directory.CreateTempSubdirectory("otlp-receiver");
    private WebApplication? _receiver;

    public string ReceiverAddress { get; } = $"http://127.0.0.1:{TestPorts.Free()}";

    public async Task InitializeAsync()
    {
        // A content root of its own: the tests' folder holds the gateway's appsettings.json, whose endpoints would win.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = _receiverRoot.FullName });
        builder.WebHost.UseUrls(ReceiverAddress);
        builder.Logging.ClearProviders();
        _receiver = builder.Build();
        _receiver.MapPost("/v1/metrics", async context =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            _received.Enqueue((context.Request.ContentType, body.ToArray()));

            // An empty ExportMetricsServiceResponse: everything accepted.
            context.Response.ContentType = "application/x-protobuf";
        });
        await _receiver.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (_receiver is not null)
        {
            await _receiver.DisposeAsync();
        }

        _receiverRoot.Delete(recursive: true);
    }

    [Fact]
    public async Task Metrics_are_pushed_over_otlp_http_with_our_names_and_service()
    {
        var gateway = new OtlpGateway(ReceiverAddress);
        await gateway.InitializeAsync();
        var names = new HashSet<string>();
        var services = new HashSet<string>();
        var exports = 0;
        try
        {
            await gateway.Anonymous.UnaryAsync(Api.ListRegions, new ListRegionsRequest());
            var waited = Stopwatch.StartNew();
            while (!OtlpGateway.Expected.IsSubsetOf(names) && waited.Elapsed < TimeSpan.FromSeconds(15))
            {
                await Task.Delay(100);
                while (_received.TryDequeue(out var export))
                {
                    exports++;
                    Assert.Equal("application/x-protobuf", export.ContentType);
                    Read(export.Body, names, services);
                }
            }
        }
        finally
        {
            await gateway.DisposeAsync();
        }

        Assert.True(exports > 0, "the receiver got no export");
        Assert.Superset(OtlpGateway.Expected, names);
        Assert.Contains("bedbureau-gateway", services);
    }

    /// <summary>
    /// opentelemetry-proto: ExportMetricsServiceRequest.resource_metrics (1) → ResourceMetrics
    /// .resource (1) .attributes (1) and .scope_metrics (2) → ScopeMetrics.metrics (2) → Metric.name (1).
    /// </summary>
    private static void Read(byte[] request, HashSet<string> names, HashSet<string> services)
    {
        foreach (var resourceMetrics in Fields(request, 1))
        {
            foreach (var resource in Fields(resourceMetrics, 1))
            {
                foreach (var attribute in Fields(resource, 1))
                {
                    if (Fields(attribute, 1).Select(k => k.ToStringUtf8()).SingleOrDefault() == "service.name")
                    {
                        services.UnionWith(Fields(attribute, 2).SelectMany(value => Fields(value, 1)).Select(s => s.ToStringUtf8()));
                    }
                }
            }

            foreach (var scopeMetrics in Fields(resourceMetrics, 2))
            {
                foreach (var metric in Fields(scopeMetrics, 2))
                {
                    names.UnionWith(Fields(metric, 1).Select(n => n.ToStringUtf8()));
                }
            }
        }
    }

    /// <summary>The length-delimited fields numbered <paramref name="number"/> of a message; others skipped.</summary>
    private static List<ByteString> Fields(ByteString message, int number) => Fields(message.ToByteArray(), number);

    private static List<ByteString> Fields(byte[] message, int number)
    {
        var found = new List<ByteString>();
        var input = new CodedInputStream(message);
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (WireFormat.GetTagFieldNumber(tag) == number && WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited)
            {
                found.Add(input.ReadBytes());
            }
            else
            {
                input.SkipLastField();
            }
        }

        return found;
    }

    private sealed class OtlpGateway(string receiver) : GatewayFixture
    {
        public static readonly HashSet<string> Expected =
        [
            "rpc.server.calls", "rpc.server.duration", "bedbureau.storage.batch_size", "bedbureau.storage.commit.duration",
            "bedbureau.grain.active", "bedbureau.grain.mailbox.depth", "bedbureau.beds.counts", "bedbureau.cache.misses",
        ];

        protected override Task<IEnumerable<string>> SettingsAsync() =>
            Task.FromResult<IEnumerable<string>>([$"--Otlp:Endpoint={receiver}", "--Otlp:ExportIntervalSeconds=0.2"]);
    }
}
