using System.Collections.Concurrent;
using System.Diagnostics;
using BedBureau.Wire;

namespace BedBureau.LoadTest;

/// <summary>Latencies, refusals and errors per RPC, for the report.</summary>
internal sealed class RpcStats
{
    private readonly ConcurrentDictionary<string, Series> _series = new(StringComparer.Ordinal);

    /// <summary>Runs one call and records it; domain refusals the scenario expects are returned, not thrown.</summary>
    public async Task<(T? Response, RpcException? Refused)> CallAsync<T>(string rpc, Func<Task<T>> call, Func<RpcException, bool>? expectedRefusal = null)
        where T : class
    {
        var series = _series.GetOrAdd(rpc, _ => new Series());
        var start = Stopwatch.GetTimestamp();
        try
        {
            var response = await call().ConfigureAwait(false);
            series.Record(Stopwatch.GetElapsedTime(start));
            return (response, null);
        }
        catch (RpcException ex) when (expectedRefusal?.Invoke(ex) == true)
        {
            series.Record(Stopwatch.GetElapsedTime(start));
            Interlocked.Increment(ref series.Refused);
            return (null, ex);
        }
        catch (RpcException ex)
        {
            Interlocked.Increment(ref series.Errors);
            series.FirstErrors.Enqueue($"{rpc}: {ex.StatusCode} {ex.Status.Detail}");
            return (null, ex);
        }
    }

    public long TotalErrors => _series.Values.Sum(s => s.Errors);

    public IEnumerable<string> ErrorSamples => _series.Values.SelectMany(s => s.FirstErrors.Take(5));

    public IEnumerable<(string Rpc, long Calls, long Refused, long Errors, double P50, double P99, double Max)> Summary(string[] order) =>
        _series.OrderBy(s => Array.IndexOf(order, s.Key) is var i && i < 0 ? int.MaxValue : i).Select(s =>
        {
            var sorted = s.Value.Sorted();
            double At(double q) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];
            return (s.Key, (long)sorted.Length + s.Value.Errors, s.Value.Refused, s.Value.Errors, At(0.5), At(0.99), sorted.Length == 0 ? 0 : sorted[^1]);
        });

    private sealed class Series
    {
        private readonly ConcurrentBag<List<double>> _all = [];
        private readonly ThreadLocal<List<double>> _local;
        public long Refused;
        public long Errors;
        public readonly ConcurrentQueue<string> FirstErrors = new();

        public Series() => _local = new ThreadLocal<List<double>>(() =>
        {
            var list = new List<double>(4096);
            _all.Add(list);
            return list;
        });

        public void Record(TimeSpan elapsed)
        {
            var list = _local.Value!;
            lock (list)
            {
                list.Add(elapsed.TotalMilliseconds);
            }
        }

        public double[] Sorted()
        {
            var all = new List<double>();
            foreach (var list in _all)
            {
                lock (list)
                {
                    all.AddRange(list);
                }
            }

            all.Sort();
            return [.. all];
        }
    }
}
