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
        _batchSize = meter.CreateHistogram<int>("bedbureau.storage.batch_size", "{commit}", "Grain commits per database transaction.");
        _commitDuration = meter.CreateHistogram<double>("bedbureau.storage.commit.duration", "s", "Time to commit one batch.");
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
