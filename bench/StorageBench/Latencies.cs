using System.Diagnostics;

namespace BedBureau.StorageBench;

/// <summary>Call latencies of one run: throughput, p50, p99 (each client records its own, merged at the end).</summary>
internal sealed class Latencies
{
    private readonly List<long[]> _samples = [];
    private readonly Lock _lock = new();

    public void Add(List<long> samples)
    {
        lock (_lock)
        {
            _samples.Add([.. samples]);
        }
    }

    public string Report(string name, TimeSpan elapsed, int failures = 0)
    {
        var all = _samples.SelectMany(s => s).Order().ToArray();
        if (all.Length == 0)
        {
            return $"{name}: no calls";
        }

        double Ms(double quantile) => all[Math.Min(all.Length - 1, (int)(quantile * all.Length))] * 1000.0 / Stopwatch.Frequency;
        return $"{name}: {all.Length:N0} calls in {elapsed.TotalSeconds:F1} s = {all.Length / elapsed.TotalSeconds:N0}/s; p50 {Ms(0.50):F3} ms, p99 {Ms(0.99):F3} ms, max {Ms(1.0):F1} ms; failures {failures:N0}";
    }

    public double PerSecond(TimeSpan elapsed) => _samples.Sum(s => s.Length) / elapsed.TotalSeconds;

    /// <summary>Runs <paramref name="clients"/> loops of <paramref name="call"/> for <paramref name="duration"/> (after a warm-up).</summary>
    public static async Task<(Latencies Latencies, TimeSpan Elapsed, int Failures)> RunAsync(int clients, TimeSpan duration, Func<int, long, Task<bool>> call, TimeSpan? warmUp = null)
    {
        var latencies = new Latencies();
        var failures = 0;
        var serial = 0L;
        var measuring = false;
        using var stop = new CancellationTokenSource();
        var started = Stopwatch.StartNew();
        var measured = Stopwatch.StartNew();
        var tasks = Enumerable.Range(0, clients).Select(client => Task.Run(async () =>
        {
            var samples = new List<long>(100_000);
            while (!stop.IsCancellationRequested)
            {
                var start = Stopwatch.GetTimestamp();
                var ok = await call(client, Interlocked.Increment(ref serial)).ConfigureAwait(false);
                var end = Stopwatch.GetTimestamp();
                if (Volatile.Read(ref measuring))
                {
                    if (ok)
                    {
                        samples.Add(end - start);
                    }
                    else
                    {
                        Interlocked.Increment(ref failures);
                    }
                }
            }

            latencies.Add(samples);
        })).ToArray();
        await Task.Delay(warmUp ?? TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        Volatile.Write(ref measuring, true);
        measured.Restart();
        await Task.Delay(duration).ConfigureAwait(false);
        Volatile.Write(ref measuring, false);
        var elapsed = measured.Elapsed;
        await stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(tasks).ConfigureAwait(false);
        _ = started;
        return (latencies, elapsed, failures);
    }
}
