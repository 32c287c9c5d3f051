using System.Diagnostics.Metrics;
using BedBureau.Gateway.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace BedBureau.Gateway.Tests.Metrics;

/// <summary>The text exposition format, line by line, for each kind of instrument.</summary>
public sealed class PrometheusExporterTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    private IMeterFactory Factory => _services.GetRequiredService<IMeterFactory>();

    public void Dispose() => _services.Dispose();

    private static string[] Lines(string text, string family) =>
        text.Split('\n').Where(l => l.StartsWith(family, StringComparison.Ordinal) || l.StartsWith($"# HELP {family}", StringComparison.Ordinal) || l.StartsWith($"# TYPE {family}", StringComparison.Ordinal)).ToArray();

    [Fact]
    public void A_counter_is_named_with_underscores_and_total_and_sums_per_label_set()
    {
        using var exporter = new PrometheusExporter(Factory);
        var calls = Factory.Create("BedBureau.Test").CreateCounter<long>("test.server.calls", "{call}", "Calls ended.");

        calls.Add(2, new KeyValuePair<string, object?>("rpc.method", "/a.B/C"), new KeyValuePair<string, object?>("rpc.grpc.status_code", 0));
        calls.Add(3, new KeyValuePair<string, object?>("rpc.method", "/a.B/C"), new KeyValuePair<string, object?>("rpc.grpc.status_code", 0));
        calls.Add(1, new KeyValuePair<string, object?>("rpc.method", "/a.B/C"), new KeyValuePair<string, object?>("rpc.grpc.status_code", 5));

        Assert.Equal(
        [
            "# HELP test_server_calls_total Calls ended.",
            "# TYPE test_server_calls_total counter",
            "test_server_calls_total{rpc_method=\"/a.B/C\",rpc_grpc_status_code=\"0\"} 5",
            "test_server_calls_total{rpc_method=\"/a.B/C\",rpc_grpc_status_code=\"5\"} 1",
        ], Lines(exporter.Collect(), "test_server_calls"));
    }

    [Fact]
    public void A_histogram_in_seconds_has_cumulative_buckets_up_to_inf_a_sum_and_a_count()
    {
        using var exporter = new PrometheusExporter(Factory);
        var duration = Factory.Create("BedBureau.Test").CreateHistogram("test.commit.duration", "s", "Time to commit.", tags: null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.125, 0.5, 2] });

        foreach (var seconds in new[] { 0.0625, 0.125, 0.25, 1, 4 })
        {
            duration.Record(seconds);
        }

        Assert.Equal(
        [
            "# HELP test_commit_duration_seconds Time to commit.",
            "# TYPE test_commit_duration_seconds histogram",
            "test_commit_duration_seconds_bucket{le=\"0.125\"} 2",
            "test_commit_duration_seconds_bucket{le=\"0.5\"} 3",
            "test_commit_duration_seconds_bucket{le=\"2\"} 4",
            "test_commit_duration_seconds_bucket{le=\"+Inf\"} 5",
            "test_commit_duration_seconds_sum 5.4375",
            "test_commit_duration_seconds_count 5",
        ], Lines(exporter.Collect(), "test_commit_duration_seconds"));
    }

    [Fact]
    public void Observable_instruments_report_their_current_values_at_each_scrape()
    {
        using var exporter = new PrometheusExporter(Factory);
        var meter = Factory.Create("BedBureau.Test");
        long activations = 7;
        var depth = new List<Measurement<int>> { new(3, new KeyValuePair<string, object?>("grain", "bed")) };
        meter.CreateObservableCounter("test.activations", () => activations, "{activation}", "Activated.");
        meter.CreateObservableGauge("test.depth", () => depth, "{call}", "Waiting.");

        var first = exporter.Collect();
        activations = 9;
        depth = [new(1, new KeyValuePair<string, object?>("grain", "patient"))];
        var second = exporter.Collect();

        Assert.Contains("# TYPE test_activations_total counter\ntest_activations_total 7\n", first, StringComparison.Ordinal);
        Assert.Contains("# TYPE test_depth gauge\ntest_depth{grain=\"bed\"} 3\n", first, StringComparison.Ordinal);
        Assert.Contains("test_activations_total 9\n", second, StringComparison.Ordinal);
        Assert.Contains("test_depth{grain=\"patient\"} 1\n", second, StringComparison.Ordinal);
        Assert.DoesNotContain("grain=\"bed\"", second, StringComparison.Ordinal);
    }

    [Fact]
    public void Label_values_escape_backslash_quote_and_newline_and_help_escapes_backslash_and_newline()
    {
        using var exporter = new PrometheusExporter(Factory);
        var counter = Factory.Create("BedBureau.Test").CreateCounter<int>("test.escaped", null, "Line one\nC:\\path \"quoted\"");

        counter.Add(1, new KeyValuePair<string, object?>("odd.label-name", "a\\b\"c\nd"));

        Assert.Equal(
        [
            "# HELP test_escaped_total Line one\\nC:\\\\path \"quoted\"",
            "# TYPE test_escaped_total counter",
            "test_escaped_total{odd_label_name=\"a\\\\b\\\"c\\nd\"} 1",
        ], Lines(exporter.Collect(), "test_escaped"));
    }

    [Fact]
    public void Meters_of_another_application_in_the_same_process_are_not_collected()
    {
        using var exporter = new PrometheusExporter(Factory);
        using var otherApplication = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var mine = Factory.Create("BedBureau.Test").CreateCounter<int>("test.mine");
        var theirs = otherApplication.GetRequiredService<IMeterFactory>().Create("BedBureau.Test").CreateCounter<int>("test.theirs");
        using var unscoped = new Meter("BedBureau.Test");
        var global = unscoped.CreateCounter<int>("test.global");

        mine.Add(1);
        theirs.Add(1);
        global.Add(1);
        var text = exporter.Collect();

        Assert.Contains("test_mine_total 1", text, StringComparison.Ordinal);
        Assert.DoesNotContain("test_theirs", text, StringComparison.Ordinal);
        Assert.DoesNotContain("test_global", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("rpc.server.duration", "s", false, "rpc_server_duration_seconds")]
    [InlineData("bedbureau.storage.batch_size", "{commit}", false, "bedbureau_storage_batch_size")]
    [InlineData("bedbureau.cache.hits", "{lookup}", true, "bedbureau_cache_hits_total")]
    [InlineData("dotnet.gc.heap.total_allocated", "By", true, "dotnet_gc_heap_total_allocated_bytes_total")]
    [InlineData("x.latency_seconds", "s", false, "x_latency_seconds")]
    [InlineData("9lives", "1", false, "_9lives")]
    public void Names_follow_the_prometheus_conventions(string name, string unit, bool counter, string expected) =>
        Assert.Equal(expected, PrometheusExporter.MetricName(name, unit, counter));
}
