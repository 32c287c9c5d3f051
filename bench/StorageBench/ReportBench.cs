using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Storage;
using BedBureau.Gateway.Sample;

namespace BedBureau.StorageBench;

/// <summary>
/// Durable bed reports (one profile's census per grain commit, as ReportBeds commits them) on
/// the gateway's storage, against the same grains on in-memory storage in the same run: what
/// durability costs a hospital's report.
/// </summary>
internal static class ReportBench
{
    public static async Task RunAsync(Options options)
    {
        var clients = options.Clients > 0 ? options.Clients : 256;
        var today = WorkingDayCalendar.LocalDate(BenchStorage.Time.GetUtcNow());
        var sample = NationalDataset.Generate(2026, today, 1400, 0);
        var targets = sample.Hospitals.SelectMany(h => h.Profiles.Select(p => (Key: new BedGrainKey(h.Id, p.ProfileCode), p.Total))).ToArray();
        await using var database = await BenchStorage.CreateAsync(options.Storage, options.Postgres);
        Console.WriteLine($"{options.Storage}: {string.Join(' ', options.Settings.Select(s => $"{s.Key}={s.Value}"))} {targets.Length:N0} grains, {clients} concurrent clients, {options.Duration.TotalSeconds} s measured after 2 s warm-up");

        await RunAsync("in-memory storage (baseline)", new InMemoryBedGrainStorage(), sample, targets, clients, options.Duration);
        await using var storage = await database.OpenAsync(options.Settings);
        using var batches = new BatchListener();
        await RunAsync($"{options.Storage} (grains + group commit)", storage.Grains, sample, targets, clients, options.Duration);
        Console.WriteLine(batches.Report());
    }

    private static async Task RunAsync(string name, IBedGrainStorage storage, NationalDataset sample, (BedGrainKey Key, int Total)[] targets, int clients, TimeSpan duration)
    {
        await using var bureau = BenchStorage.Bureau(BenchStorage.DirectoryOf(sample), storage);
        var process = System.Diagnostics.Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var calls = 0L;
        var (latencies, elapsed, failures) = await Latencies.RunAsync(clients, duration, async (client, serial) =>
        {
            Interlocked.Increment(ref calls);
            var (key, total) = targets[serial % targets.Length];
            var occupied = (int)(serial % (total + 1));
            await bureau.ReportBedsAsync(key, new Actor(key.HospitalId, ActorRole.Hospital), $"bench-{serial}", new BedReport(total, occupied, total - occupied, 0, 0, null));
            return true;
        });
        process.Refresh();

        // CPU per update (warm-up included) varies less than wall time on a shared machine.
        var cpuPerUpdate = (process.TotalProcessorTime - cpu).TotalMicroseconds / Math.Max(1, Interlocked.Read(ref calls));
        Console.WriteLine($"{latencies.Report($"ReportBeds profile updates, {name}", elapsed, failures)}; this process's CPU {cpuPerUpdate:F0} µs per update");
    }
}

/// <summary>Group-commit batches as the storage's metrics record them: how many, how big, how long.</summary>
internal sealed class BatchListener : IDisposable
{
    private readonly System.Diagnostics.Metrics.MeterListener _listener = new();
    private long _batches;
    private long _commits;
    private double _seconds;

    public BatchListener()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == Gateway.Storage.StorageMetrics.MeterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<int>((instrument, size, _, _) =>
        {
            Interlocked.Increment(ref _batches);
            Interlocked.Add(ref _commits, size);
        });
        _listener.SetMeasurementEventCallback<double>((instrument, seconds, _, _) =>
        {
            lock (_listener)
            {
                _seconds += seconds;
            }
        });
        _listener.Start();
    }

    public string Report() => _batches == 0
        ? "no batches"
        : $"group commit: {_batches:N0} batches, {(double)_commits / _batches:F1} commits per batch, {_seconds / _batches * 1000:F1} ms per batch";

    public void Dispose() => _listener.Dispose();
}
