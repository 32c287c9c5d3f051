using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace BedBureau.Gateway.Metrics;

/// <summary>
/// The gateway's meters in the Prometheus text exposition format (version 0.0.4), for
/// <c>GET /metrics</c>. A <see cref="MeterListener"/> aggregates what is recorded: counters as
/// running sums, histograms into buckets, and it asks the observable instruments for their
/// values at each scrape. Only this application's meters (those its <see cref="IMeterFactory"/>
/// made: several gateways may share a process in tests) and the runtime's <c>System.Runtime</c>.
/// </summary>
public sealed class PrometheusExporter : IDisposable
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>The runtime's own meter (GC, thread pool, exceptions) is process-wide: no scope.</summary>
    private const string RuntimeMeter = "System.Runtime";

    /// <summary>OpenTelemetry's advice for durations in seconds (semantic conventions, http.server.request.duration).</summary>
    internal static readonly double[] SecondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

    /// <summary>OpenTelemetry's default explicit buckets, for histograms without advice.</summary>
    private static readonly double[] DefaultBuckets = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];

    private readonly IMeterFactory _meterFactory;
    private readonly MeterListener _listener = new();
    private readonly List<InstrumentState> _instruments = [];
    private readonly Lock _scrape = new();

    public PrometheusExporter(IMeterFactory meterFactory)
    {
        _meterFactory = meterFactory;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (Collects(instrument.Meter) && InstrumentState.For(instrument) is { } state)
            {
                lock (_instruments)
                {
                    _instruments.Add(state);
                }

                listener.EnableMeasurementEvents(instrument, state);
            }
        };
        _listener.MeasurementsCompleted = (_, state) =>
        {
            lock (_instruments)
            {
                _instruments.Remove((InstrumentState)state!);
            }
        };
        _listener.SetMeasurementEventCallback<double>(static (_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<float>(static (_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<long>(static (_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<int>(static (_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<short>(static (_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<byte>(static (_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<decimal>(static (_, value, tags, state) => ((InstrumentState)state!).Record((double)value, tags));
        _listener.Start();
    }

    private bool Collects(Meter meter) =>
        meter.Name == RuntimeMeter || (meter.Name.StartsWith("BedBureau.", StringComparison.Ordinal) && ReferenceEquals(meter.Scope, _meterFactory));

    /// <summary>Every metric family, sorted by name.</summary>
    public string Collect()
    {
        lock (_scrape)
        {
            InstrumentState[] states;
            lock (_instruments)
            {
                states = [.. _instruments];
            }

            // Observable instruments report what is there now: a series not observed again is gone.
            foreach (var state in states)
            {
                if (state.Observable)
                {
                    state.Series.Clear();
                }
            }

            _listener.RecordObservableInstruments();
            var text = new StringBuilder();
            foreach (var family in states.GroupBy(s => s.Name, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                var first = family.First();
                text.Append("# HELP ").Append(first.Name).Append(' ').Append(EscapeHelp(first.Help)).Append('\n');
                text.Append("# TYPE ").Append(first.Name).Append(' ').Append(first.Type).Append('\n');
                foreach (var state in family)
                {
                    state.WriteTo(text);
                }
            }

            return text.ToString();
        }
    }

    public void Dispose() => _listener.Dispose();

    // ---- Names (Prometheus data model: [a-zA-Z_:][a-zA-Z0-9_:]*, labels without the colon) ----

    /// <summary>
    /// Dots and other characters to underscores, the unit as a suffix (s: _seconds; annotations
    /// in braces and "1" add nothing), counters end in _total: as OpenTelemetry's Prometheus
    /// exporters name them.
    /// </summary>
    internal static string MetricName(string name, string? unit, bool counter)
    {
        var metric = Sanitize(name, allowColon: true);
        var suffix = UnitSuffix(unit);
        if (suffix.Length > 0 && !metric.EndsWith("_" + suffix, StringComparison.Ordinal))
        {
            metric += "_" + suffix;
        }

        if (counter && !metric.EndsWith("_total", StringComparison.Ordinal))
        {
            metric += "_total";
        }

        return metric;
    }

    private static string UnitSuffix(string? unit) => unit switch
    {
        null or "" or "1" => "",
        ['{', ..] => "",
        "s" => "seconds",
        "ms" => "milliseconds",
        "By" => "bytes",
        _ => Sanitize(unit, allowColon: false),
    };

    internal static string LabelName(string key) => Sanitize(key, allowColon: false);

    private static string Sanitize(string name, bool allowColon)
    {
        var text = new StringBuilder(name.Length + 1);
        foreach (var c in name)
        {
            text.Append(char.IsAsciiLetterOrDigit(c) || c == '_' || (allowColon && c == ':') ? c : '_');
        }

        if (text.Length == 0 || char.IsAsciiDigit(text[0]))
        {
            text.Insert(0, '_');
        }

        return text.ToString();
    }

    /// <summary>Text format: in label values backslash, double quote and line feed are escaped.</summary>
    internal static string EscapeLabelValue(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    /// <summary>Text format: in HELP only backslash and line feed are escaped.</summary>
    private static string EscapeHelp(string? help) =>
        (help ?? "").Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    internal static string FormatValue(double value) => value switch
    {
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        double.NaN => "NaN",
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };

    private static string LabelValue(object? value) => value switch
    {
        null => "",
        string s => s,
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    // ---- Aggregation ------------------------------------------------------------------------------

    private enum Aggregation
    {
        /// <summary>Counter, UpDownCounter: add each measurement.</summary>
        Sum,

        /// <summary>Observable instruments, Gauge: the last value is the value.</summary>
        Last,

        Histogram,
    }

    private sealed class InstrumentState(string name, string? help, string type, Aggregation aggregation, bool observable, double[]? bounds)
    {
        public string Name { get; } = name;

        public string? Help { get; } = help;

        public string Type { get; } = type;

        public bool Observable { get; } = observable;

        public ConcurrentDictionary<SeriesKey, Series> Series { get; } = new();

        public static InstrumentState? For(Instrument instrument)
        {
            if (!instrument.GetType().IsGenericType)
            {
                return null;
            }

            var kind = instrument.GetType().GetGenericTypeDefinition();
            var (type, aggregation, observable) =
                kind == typeof(Counter<>) ? ("counter", Aggregation.Sum, false)
                : kind == typeof(ObservableCounter<>) ? ("counter", Aggregation.Last, true)
                : kind == typeof(UpDownCounter<>) ? ("gauge", Aggregation.Sum, false)
                : kind == typeof(ObservableUpDownCounter<>) || kind == typeof(ObservableGauge<>) ? ("gauge", Aggregation.Last, true)
                : kind == typeof(Gauge<>) ? ("gauge", Aggregation.Last, false)
                : kind == typeof(Histogram<>) ? ("histogram", Aggregation.Histogram, false)
                : (null!, default, false);
            if (type is null)
            {
                return null;
            }

            var bounds = aggregation == Aggregation.Histogram ? BucketsOf(instrument) : null;
            return new InstrumentState(MetricName(instrument.Name, instrument.Unit, type == "counter"), instrument.Description, type, aggregation, observable, bounds);
        }

        /// <summary>The instrument's advice (what OTLP export uses too), else by unit.</summary>
        private static double[] BucketsOf(Instrument instrument)
        {
            var advised = instrument switch
            {
                Instrument<double> d => d.Advice?.HistogramBucketBoundaries?.ToArray(),
                Instrument<float> f => f.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray(),
                Instrument<long> l => l.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray(),
                Instrument<int> i => i.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray(),
                _ => null,
            };
            return advised ?? (instrument.Unit == "s" ? SecondsBuckets : DefaultBuckets);
        }

        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var key = new SeriesKey(tags);
            var series = Series.GetOrAdd(key, static (k, b) => new Series(k, b), bounds);
            lock (series)
            {
                switch (aggregation)
                {
                    case Aggregation.Sum:
                        series.Value += value;
                        break;
                    case Aggregation.Last:
                        series.Value = value;
                        break;
                    default:
                        var bucket = 0;
                        while (bucket < bounds!.Length && value > bounds[bucket])
                        {
                            bucket++;
                        }

                        series.Buckets![bucket]++;
                        series.Value += value;
                        series.Count++;
                        break;
                }
            }
        }

        public void WriteTo(StringBuilder text)
        {
            foreach (var series in Series.Values.OrderBy(s => s.Labels, StringComparer.Ordinal))
            {
                lock (series)
                {
                    if (aggregation != Aggregation.Histogram)
                    {
                        text.Append(Name).Append(series.Labels).Append(' ').Append(FormatValue(series.Value)).Append('\n');
                        continue;
                    }

                    // Buckets are cumulative: le is an inclusive upper bound; +Inf holds every observation.
                    long cumulative = 0;
                    for (var i = 0; i <= bounds!.Length; i++)
                    {
                        cumulative += series.Buckets![i];
                        var le = i < bounds.Length ? FormatValue(bounds[i]) : "+Inf";
                        text.Append(Name).Append("_bucket").Append(series.LabelsWith("le", le)).Append(' ').Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
                    }

                    text.Append(Name).Append("_sum").Append(series.Labels).Append(' ').Append(FormatValue(series.Value)).Append('\n');
                    text.Append(Name).Append("_count").Append(series.Labels).Append(' ').Append(series.Count.ToString(CultureInfo.InvariantCulture)).Append('\n');
                }
            }
        }
    }

    private sealed class Series(SeriesKey key, double[]? bounds)
    {
        private readonly string _labelPairs = string.Join(",", key.Tags().Select(t => $"{LabelName(t.Key)}=\"{EscapeLabelValue(LabelValue(t.Value))}\""));

        public double Value;
        public long Count;
        public readonly long[]? Buckets = bounds is null ? null : new long[bounds.Length + 1];

        /// <summary>"{a="x",b="y"}", or "" without tags.</summary>
        public string Labels => _labelPairs.Length == 0 ? "" : "{" + _labelPairs + "}";

        public string LabelsWith(string name, string value) =>
            "{" + _labelPairs + (_labelPairs.Length == 0 ? "" : ",") + name + "=\"" + value + "\"}";
    }

    /// <summary>
    /// A measurement's tags as a dictionary key without allocating for up to three tags (the
    /// hot path: a gRPC call records method and status); more go to an array.
    /// </summary>
    private readonly struct SeriesKey : IEquatable<SeriesKey>
    {
        private readonly int _count;
        private readonly KeyValuePair<string, object?> _t0, _t1, _t2;
        private readonly KeyValuePair<string, object?>[]? _more;

        public SeriesKey(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            _count = tags.Length;
            if (tags.Length > 3)
            {
                _more = tags.ToArray();
                return;
            }

            if (tags.Length > 0)
            {
                _t0 = tags[0];
            }

            if (tags.Length > 1)
            {
                _t1 = tags[1];
            }

            if (tags.Length > 2)
            {
                _t2 = tags[2];
            }
        }

        public IEnumerable<KeyValuePair<string, object?>> Tags() =>
            _more ?? new[] { _t0, _t1, _t2 }.Take(_count);

        private KeyValuePair<string, object?> At(int i) => _more?[i] ?? (i == 0 ? _t0 : i == 1 ? _t1 : _t2);

        public bool Equals(SeriesKey other)
        {
            if (_count != other._count)
            {
                return false;
            }

            for (var i = 0; i < _count; i++)
            {
                var (a, b) = (At(i), other.At(i));
                if (!string.Equals(a.Key, b.Key, StringComparison.Ordinal) || !Equals(a.Value, b.Value))
                {
                    return false;
                }
            }

            return true;
        }

        public override bool Equals(object? obj) => obj is SeriesKey other && Equals(other);

        public override int GetHashCode()
        {
            var hash = new HashCode();
            for (var i = 0; i < _count; i++)
            {
                var tag = At(i);
                hash.Add(tag.Key, StringComparer.Ordinal);
                hash.Add(tag.Value);
            }

            return hash.ToHashCode();
        }
    }
}
