using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using BedBureau.Contract.V1;
using BedBureau.Wire;

namespace BedBureau.Gateway.Tests.EndToEnd;

/// <summary>GET /metrics on the HTTP endpoint of a running gateway: every family an operator alerts on, in valid text format, moving with the calls.</summary>
[Collection(GatewayCollection.Name)]
public sealed partial class MetricsEndpointTests(GatewayFixture gateway)
{
    private static readonly string[] Families =
    [
        "rpc_server_calls_total counter", "rpc_server_duration_seconds histogram",
        "bedbureau_storage_batch_size histogram", "bedbureau_storage_commit_duration_seconds histogram", "bedbureau_storage_commit_failures_total counter",
        "bedbureau_grain_active gauge", "bedbureau_grain_activations_total counter", "bedbureau_grain_deactivations_total counter", "bedbureau_grain_trims_total counter",
        "bedbureau_grain_mailbox_depth gauge", "bedbureau_grain_mailbox_deepest gauge", "bedbureau_grain_overload_rejections_total counter",
        "bedbureau_cache_hits_total counter", "bedbureau_cache_misses_total counter", "bedbureau_cache_rejected_total counter",
        "bedbureau_cache_redis_errors_total counter", "bedbureau_beds_counts gauge",
    ];

    [GeneratedRegex("""^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})? (?:[-+]?[0-9.eE+-]+|[+-]Inf|NaN)$""")]
    private static partial Regex SampleLine();

    private async Task<(string Text, string? ContentType)> ScrapeAsync()
    {
        using var http = new HttpClient { BaseAddress = new Uri(gateway.HttpAddress), DefaultRequestVersion = HttpVersion.Version11 };
        using var response = await http.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadAsStringAsync(), response.Content.Headers.ContentType?.ToString());
    }

    private static double Value(string text, string series)
    {
        var line = text.Split('\n').SingleOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal));
        return line is null ? 0 : double.Parse(line[(series.Length + 1)..], CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Metrics_are_served_in_prometheus_text_format_with_every_family_described()
    {
        await gateway.Anonymous.UnaryAsync(Api.ListRegions, new ListRegionsRequest());

        var (text, contentType) = await ScrapeAsync();

        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", contentType);
        foreach (var family in Families)
        {
            var name = family.Split(' ')[0];
            Assert.Contains($"# TYPE {family}\n", text, StringComparison.Ordinal);
            Assert.Matches($"# HELP {name} \\S", text);
        }

        // Every sample line is well formed, and belongs to the family described just above it.
        string? current = null;
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                current = line.Split(' ')[2];
                continue;
            }

            if (line.StartsWith('#'))
            {
                continue;
            }

            Assert.Matches(SampleLine(), line);
            Assert.True(current is not null && line.StartsWith(current, StringComparison.Ordinal), $"{line} outside its family {current}");
        }
    }

    [Fact]
    public async Task Calls_grains_storage_cache_and_bed_counts_move_the_metrics()
    {
        var (before, _) = await ScrapeAsync();
        var registered = await Scenario.RegisterAsync(gateway);
        var lookup = new GetQueueStatusRequest { HospitalizationCode = registered.HospitalizationCode, AccessKey = registered.AccessKey };
        await gateway.Anonymous.UnaryAsync(Api.QueueStatus, lookup);
        await gateway.Anonymous.UnaryAsync(Api.QueueStatus, lookup);
        await Assert.ThrowsAsync<RpcException>(() => gateway.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = "NONE" }));

        var (after, _) = await ScrapeAsync();

        const string NotFound = """rpc_server_calls_total{rpc_method="/bedbureau.v1.DirectoryService/GetHospital",rpc_grpc_status_code="5"}""";
        Assert.Equal(1, Value(after, NotFound) - Value(before, NotFound));
        const string Registered = """rpc_server_calls_total{rpc_method="/bedbureau.v1.ReferralService/RegisterReferral",rpc_grpc_status_code="0"}""";
        Assert.True(Value(after, Registered) > Value(before, Registered));
        const string Lookups = """rpc_server_duration_seconds_count{rpc_method="/bedbureau.v1.PatientService/GetQueueStatus",rpc_grpc_status_code="0"}""";
        Assert.Equal(2, Value(after, Lookups) - Value(before, Lookups));
        Assert.Equal(1, Value(after, "bedbureau_cache_misses_total") - Value(before, "bedbureau_cache_misses_total"));
        Assert.Equal(1, Value(after, "bedbureau_cache_hits_total") - Value(before, "bedbureau_cache_hits_total"));
        Assert.True(Value(after, "bedbureau_storage_commit_duration_seconds_count") > Value(before, "bedbureau_storage_commit_duration_seconds_count"));
        Assert.True(Value(after, """bedbureau_grain_active{bedbureau_grain_type="bed_profile"}""") >= 1);
        Assert.True(Value(after, """bedbureau_grain_activations_total{bedbureau_grain_type="bed_profile"}""") >= 1);
        Assert.Equal(0, Value(after, """bedbureau_grain_mailbox_depth{bedbureau_grain_type="bed_profile"}"""));

        // Every (hospital, profile) of the sample is counted once, fresh, stale or unreported.
        var pairs = gateway.Service<BureauHost>().Hospitals.Values.Sum(h => h.ProfileCodes.Count);
        var counted = new[] { "fresh", "stale", "unreported" }.Sum(f => Value(after, $$"""bedbureau_beds_counts{bedbureau_freshness="{{f}}"}"""));
        Assert.Equal(pairs, counted);
    }
}
