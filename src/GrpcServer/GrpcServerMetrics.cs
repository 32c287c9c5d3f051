using System.Diagnostics;
using System.Diagnostics.Metrics;
using BedBureau.Wire;

namespace BedBureau.GrpcServer;

/// <summary>Per-method call counts by status and call duration (OpenTelemetry rpc.server.* names).</summary>
public sealed class GrpcServerMetrics : IDisposable
{
    public const string MeterName = "BedBureau.Grpc";

    private readonly Meter _meter;
    private readonly Counter<long> _calls;
    private readonly Histogram<double> _duration;

    public GrpcServerMetrics(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(MeterName);
        _calls = _meter.CreateCounter<long>("rpc.server.calls", "{call}", "Calls ended, by method and gRPC status code.");
        _duration = _meter.CreateHistogram<double>("rpc.server.duration", "s", "Time from request headers to the call's status.");
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
