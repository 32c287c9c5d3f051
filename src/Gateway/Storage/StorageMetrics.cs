using System.Diagnostics.Metrics;

namespace BedBureau.Gateway.Storage;

/// <summary>Group-commit batch sizes, commit latency and failures.</summary>
public sealed class StorageMetrics
{
    public const string MeterName = "BedBureau.Storage";

    private readonly Histogram<int> _batchSize;
    private readonly Histogram<double> _commitDuration;
    private readonly Counter<long> _failures;

    public StorageMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _batchSize = meter.CreateHistogram("bedbureau.storage.batch_size", "{commit}", "Grain commits per database transaction.", tags: null,
            new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] });
        _commitDuration = meter.CreateHistogram("bedbureau.storage.commit.duration", "s", "Time to commit one batch.", tags: null, GrpcServer.GrpcServerMetrics.DurationBuckets);
        _failures = meter.CreateCounter<long>("bedbureau.storage.commit.failures", "{batch}", "Batches that failed to commit.");
    }

    public void BatchCommitted(int size, TimeSpan duration, bool succeeded)
    {
        _batchSize.Record(size);
        _commitDuration.Record(duration.TotalSeconds);
        if (!succeeded)
        {
            _failures.Add(1);
        }
    }
}
