using BedBureau.Gateway.Cache;
using BedBureau.Gateway.Storage;
using BedBureau.GrpcServer;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace BedBureau.Gateway.Metrics;

/// <summary>
/// The same meters as /metrics, pushed over OTLP when <c>Otlp:Endpoint</c> is configured. The
/// OpenTelemetry hosting extension does not restore here, so the MeterProvider is built by hand.
/// </summary>
internal static class OtlpExport
{
    /// <summary>The meters exported: the gateway's own and the runtime's.</summary>
    public static readonly string[] Meters =
        [GrpcServerMetrics.MeterName, StorageMetrics.MeterName, BedGrain.BureauMetrics.MeterName, CacheMetrics.MeterName, Security.PatientLimitMetrics.MeterName, "System.Runtime"];

    public static bool IsConfigured(IConfiguration configuration) => !string.IsNullOrEmpty(configuration["Otlp:Endpoint"]);

    public static MeterProvider Build(IConfiguration configuration)
    {
        var endpoint = configuration["Otlp:Endpoint"]!;

        var protocol = configuration["Otlp:Protocol"] switch
        {
            null or "" or "http/protobuf" => OtlpExportProtocol.HttpProtobuf,
            "grpc" => OtlpExportProtocol.Grpc,
            var other => throw new InvalidOperationException($"Otlp:Protocol '{other}' is not supported: use http/protobuf or grpc."),
        };
        var uri = new Uri(endpoint);

        // Set in code, the HTTP exporter posts to the URI as given: add the signal's path to a bare collector address.
        if (protocol == OtlpExportProtocol.HttpProtobuf && uri.AbsolutePath == "/")
        {
            uri = new Uri(uri, "v1/metrics");
        }

        var interval = TimeSpan.FromSeconds(configuration.GetValue("Otlp:ExportIntervalSeconds", 15.0));
        return Sdk.CreateMeterProviderBuilder()
            .ConfigureResource(resource => resource.AddService(configuration["Otlp:ServiceName"] is { Length: > 0 } name ? name : "bedbureau-gateway"))
            .AddMeter(Meters)
            .AddOtlpExporter((exporter, reader) =>
            {
                exporter.Endpoint = uri;
                exporter.Protocol = protocol;
                if (configuration["Otlp:Headers"] is { Length: > 0 } headers)
                {
                    exporter.Headers = headers;
                }

                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)interval.TotalMilliseconds;
            })
            .Build();
    }
}
