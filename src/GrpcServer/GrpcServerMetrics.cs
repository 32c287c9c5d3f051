using System.Diagnostics;
using System.Diagnostics.Metrics;
using BedBureau.Wire;

namespace BedBureau.GrpcServer;

/// <summary>Per-method call counts by status and call duration (OpenTelemetry rpc.server.* names).</summary>
public sealed class GrpcServerMetrics : IDisposable
{
    public const string MeterName = "BedBureau.Grpc";

    /// <summary>OpenTelemetry's advised buckets for durations in seconds (its defaults suit milliseconds).</summary>
    public static readonly InstrumentAdvice<double> DurationBuckets = new()
    {
        HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10],
    };

    private readonly Meter _meter;
    private readonly Counter<long> _calls;
    private readonly Histogram<double> _duration;

    public GrpcServerMetrics(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(MeterName);
        _calls = _meter.CreateCounter<long>("rpc.server.calls", "{call}", "Calls ended, by method and gRPC status code.");
        _duration = _meter.CreateHistogram("rpc.server.duration", "s", "Time from request headers to the call's status.", tags: null, DurationBuckets);
    }

    internal void CallEnded(string method, StatusCode code, long startTimestamp)
    {
        if (!_calls.Enabled && !_duration.Enabled)
        {
            return;
        }

        var tags = new TagList { { "rpc.method", method }, { "rpc.grpc.status_code", (int)code } };
        _calls.Add(1, tags);
        _duration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, tags);
    }

    public void Dispose() => _meter.Dispose();
}
