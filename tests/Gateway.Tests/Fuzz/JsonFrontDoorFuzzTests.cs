using System.Net;
using System.Text;
using System.Text.Json;
using BedBureau.Contract.V1;
using BedBureau.Gateway.Tests.EndToEnd;
using Xunit.Abstractions;

namespace BedBureau.Gateway.Tests.Fuzz;

/// <summary>A gateway of its own, without the patients' rate limit: the fuzz test sends thousands of lookups from one address.</summary>
public sealed class JsonFrontDoorFuzzGateway : GatewayFixture
{
    protected override Task<IEnumerable<string>> SettingsAsync() =>
        Task.FromResult<IEnumerable<string>>(["--Sample:Hospitals=6", "--Sample:Referrals=30", "--Patients:LookupBurst=1000000000", "--Patients:LookupsPerSecond=1000000000"]);
}

/// <summary>
/// Fuzzing of the JSON front door (the browsers' HTTP/1.1 reads): every endpoint gets requests
/// that are valid but for one parameter, chosen from a seeded generator (malformed and far dates,
/// numbers out of range or not numbers, unknown codes, huge, non-ASCII, control and
/// percent-encoded values, duplicated parameters), and wilder requests with several bad or
/// unknown parameters at once. A one-parameter case must answer 400 or 404 with the JSON error
/// naming that parameter's field; any case must answer below 500, with the JSON error shape
/// whenever the service (not Kestrel's request parser) refused it. The valid requests the cases
/// are made from are sent last and must answer 200 with JSON, so each refusal is the mutated
/// parameter's doing. BEDBUREAU_JSON_FUZZ_SEED and BEDBUREAU_JSON_FUZZ_CASES change the seed
/// and the number of cases.
/// </summary>
public sealed class JsonFrontDoorFuzzTests(JsonFrontDoorFuzzGateway gateway, ITestOutputHelper output) : IClassFixture<JsonFrontDoorFuzzGateway>
{
    private static readonly int Seed = int.TryParse(Environment.GetEnvironmentVariable("BEDBUREAU_JSON_FUZZ_SEED"), out var seed) ? seed : 20261123;
    private static readonly int Cases = int.TryParse(Environment.GetEnvironmentVariable("BEDBUREAU_JSON_FUZZ_CASES"), out var cases) ? cases : 2000;

    /// <summary>A parameter: where it goes, what an error about it says (a field it names), and its bad values.</summary>
    private sealed record Parameter(string Name, bool InPath, string[] Fields, Func<Random, string> Bad);

    /// <summary>A wrong or malformed access key is told apart from an unknown code by nothing, on purpose.</summary>
    private const string NoSuchReferral = "[REFERRAL_NOT_FOUND] No referral with this code and access key.";

    /// <summary>An endpoint: its path template ("{code}"), a valid value for each parameter, and the parameters.</summary>
    private sealed record Endpoint(string Template, IReadOnlyDictionary<string, string> Valid, IReadOnlyList<Parameter> Parameters);

    /// <param name="Fields">For a one-parameter case, what its error must say (one of them); null for a wild case.</param>
    private sealed record Case(string Description, string Url, string[]? Fields);

    // ---- Values ----------------------------------------------------------------------------------

    private static readonly string[] Odd =
    [
        " ", "%", "%%41", "\u0001", "\n", "\t", "'; DROP TABLE referrals; --", "<script>alert(1)</script>", "../../etc/passwd",
        "Ж", "😀", "\u202e", "e\u0301", "\uFEFF", "null", "undefined", "[]", "{}", "\\", "\"",
    ];

    private static string Pick(Random random, params string[] values) => values[random.Next(values.Length)];

    private static string Long(Random random) => new(Pick(random, "x", "9", "Ж")[0], random.Next(3) switch { 0 => 300, 1 => 1_000, _ => 2_000 });

    private static string BadDate(Random random) => random.Next(12) switch
    {
        0 => "2026-02-30",
        1 => "2026-13-01",
        2 => "26-11-23",
        3 => "2026/11/23",
        4 => "2026-11-23T00:00:00Z",
        5 => "tomorrow",
        6 => "2026-1-1",
        7 => "-2026-11-23",
        8 => "１２０２６-11-23",
        9 => Long(random),
        _ => Pick(random, Odd),
    };

    private static string BadNumber(Random random) => random.Next(12) switch
    {
        0 => "-1",
        1 => "2147483648",
        2 => "99999999999999999999",
        3 => "1e3",
        4 => "0x10",
        5 => "+5",
        6 => " 5",
        7 => "5.0",
        8 => "٥",
        9 => "100000",
        10 => Long(random),
        _ => Pick(random, Odd),
    };

    private static string BadRegion(Random random) => random.Next(6) switch
    {
        0 => "99",
        1 => "1",
        2 => "ab",
        3 => "001",
        4 => Long(random),
        _ => Pick(random, Odd),
    };

    private static string BadProfile(Random random) => random.Next(5) switch
    {
        0 => "zzz",
        1 => "999",
        2 => "101 ",
        3 => Long(random),
        _ => Pick(random, Odd),
    };

    private static string BadCode(Random random) => random.Next(7) switch
    {
        0 => "abc",
        1 => "61.01W9.321",
        2 => "61.01W9.321.72S.1",
        3 => "61..321.72S",
        4 => "75.NOPE.101.1",
        5 => Long(random),
        _ => Pick(random, Odd),
    };

    private static string BadKey(Random random) => random.Next(5) switch
    {
        0 => "AAAAA-BBBBB",
        1 => "",
        2 => "0000000000",
        3 => Long(random),
        _ => Pick(random, Odd),
    };

    private static string BadId(Random random) => random.Next(4) switch
    {
        0 => "NOPE",
        1 => "0000",
        2 => Long(random),
        _ => Pick(random, Odd),
    };

    // ---- Endpoints -----------------------------------------------------------------------------

    private static Endpoint[] Endpoints(DateOnly today, string code, string accessKey, string hospital, string pageToken) =>
    [
        new("/v1/queue/{code}", new Dictionary<string, string> { ["code"] = code, ["access_key"] = accessKey },
        [
            new("code", true, ["hospitalization_code"], BadCode),
            new("access_key", false, ["access_key", NoSuchReferral], BadKey),
        ]),
        new("/v1/queue/{code}/events", new Dictionary<string, string> { ["code"] = code, ["access_key"] = accessKey },
        [
            new("code", true, ["hospitalization_code"], BadCode),
            new("access_key", false, ["access_key", NoSuchReferral], BadKey),
        ]),
        new("/v1/free-beds", new Dictionary<string, string>
        {
            ["profile"] = "101", ["region"] = "75", ["from"] = today.ToString("yyyy-MM-dd"), ["to"] = today.AddDays(10).ToString("yyyy-MM-dd"), ["max_results"] = "20",
        },
        [
            new("profile", false, ["bed_profile_code"], r => r.Next(8) == 0 ? "" : BadProfile(r)),
            new("region", false, ["region_code"], BadRegion),
            new("from", false, ["from", "date_from", "date_to"], BadDate),
            new("to", false, ["to", "date_to"], BadDate),
            new("max_results", false, ["max_results"], BadNumber),
        ]),
        new("/v1/regions", new Dictionary<string, string>(), []),
        new("/v1/bed-profiles", new Dictionary<string, string> { ["age_group"] = "CHILD" },
        [
            new("age_group", false, ["age_group"], r => r.Next(4) switch { 0 => "adults", 1 => "0", 2 => Long(r), _ => Pick(r, Odd) }),
        ]),
        new("/v1/hospitals", new Dictionary<string, string> { ["region"] = "75", ["profile"] = "101", ["page_size"] = "5", ["page_token"] = pageToken },
        [
            new("region", false, ["region_code"], BadRegion),
            new("profile", false, ["bed_profile_code"], BadProfile),
            new("page_size", false, ["page_size"], BadNumber),
            new("page_token", false, ["page_token"], r => r.Next(3) switch { 0 => "garbage", 1 => Convert.ToBase64String(Encoding.UTF8.GetBytes("{\"offset\":-1}")), _ => Long(r) }),
        ]),
        new("/v1/hospitals/{id}", new Dictionary<string, string> { ["id"] = hospital },
        [
            new("id", true, ["hospital_id"], BadId),
        ]),
    ];

    private static string Url(Endpoint endpoint, IReadOnlyDictionary<string, string> values, IEnumerable<(string Name, string Value)> extra)
    {
        var path = endpoint.Template;
        var query = new List<string>();
        foreach (var (name, value) in values)
        {
            if (path.Contains($"{{{name}}}"))
            {
                path = path.Replace($"{{{name}}}", Uri.EscapeDataString(value));
            }
            else
            {
                query.Add($"{name}={Uri.EscapeDataString(value)}");
            }
        }

        query.AddRange(extra.Select(e => $"{e.Name}={Uri.EscapeDataString(e.Value)}"));
        return query.Count == 0 ? path : $"{path}?{string.Join('&', query)}";
    }

    private static Case OneBadParameter(Random random, Endpoint endpoint)
    {
        var parameter = endpoint.Parameters[random.Next(endpoint.Parameters.Count)];
        var bad = parameter.Bad(random);
        var values = new Dictionary<string, string>(endpoint.Valid) { [parameter.Name] = bad };

        // A path segment that is empty or only dots is another route (or none), not a bad value.
        if (parameter.InPath && (bad.Trim('.').Length == 0 || bad.Contains('/') || bad.Contains('\\')))
        {
            values[parameter.Name] = "x" + bad.Replace("/", "").Replace("\\", "");
        }

        return new Case($"{endpoint.Template} {parameter.Name}={Show(values[parameter.Name])}", Url(endpoint, values, []), parameter.Fields);
    }

    /// <summary>Several parameters bad at once, unknown ones added, known ones repeated: only "below 500, in shape" is asked.</summary>
    private static Case Wild(Random random, Endpoint endpoint)
    {
        var values = new Dictionary<string, string>(endpoint.Valid);
        foreach (var parameter in endpoint.Parameters.Where(p => !p.InPath && random.Next(2) == 0))
        {
            values[parameter.Name] = parameter.Bad(random);
        }

        var extra = new List<(string, string)>();
        for (var i = random.Next(4); i > 0; i--)
        {
            extra.Add(random.Next(2) == 0 && endpoint.Parameters.Count > 0
                ? (endpoint.Parameters[random.Next(endpoint.Parameters.Count)].Name, Pick(random, Odd))
                : (Pick(random, "x", "debug", "access_key", "__proto__", "profile[]", "max_results"), Pick(random, Odd)));
        }

        var url = Url(endpoint, values, extra);
        return new Case($"wild {Show(url)}", url, null);
    }

    private static string Show(string value) => value.Length > 60 ? $"{value[..60]}... ({value.Length} chars)" : value;

    [Fact]
    public async Task Every_malformed_json_request_gets_a_clear_client_error_naming_its_parameter_and_never_a_server_error()
    {
        // Something real to look up, and a page token the service issued.
        var (hospital, profile, iin) = await Scenario.TargetAsync(gateway);
        using var polyclinic = gateway.ChannelFor(gateway.Polyclinic());
        var registered = await polyclinic.UnaryAsync(Api.Register, Scenario.Registration(gateway, hospital, profile, iin));
        using var http = new HttpClient { BaseAddress = new Uri(gateway.HttpAddress), DefaultRequestVersion = HttpVersion.Version11, Timeout = TimeSpan.FromSeconds(30) };
        var firstPage = JsonDocument.Parse(await http.GetStringAsync("/v1/hospitals?page_size=1")).RootElement;
        var pageToken = firstPage.GetProperty("nextPageToken").GetString()!;
        Assert.NotEmpty(pageToken);

        var endpoints = Endpoints(gateway.Today, registered.HospitalizationCode, registered.AccessKey, hospital, pageToken);
        var random = new Random(Seed);
        var failures = new List<string>();
        var outcomes = new Dictionary<string, int>();
        for (var i = 0; i < Cases; i++)
        {
            var endpoint = endpoints[random.Next(endpoints.Length)];
            var @case = endpoint.Parameters.Count > 0 && random.Next(4) != 0 ? OneBadParameter(random, endpoint) : Wild(random, endpoint);
            var problem = await CheckAsync(http, @case);
            if (problem is not null)
            {
                failures.Add($"{@case.Description}: {problem}");
            }
        }

        // The valid requests the cases were made from: each answers 200 with JSON.
        foreach (var endpoint in endpoints.Where(e => !e.Template.EndsWith("/events", StringComparison.Ordinal)))
        {
            using var response = await http.GetAsync(Url(endpoint, endpoint.Valid, []));
            var body = await response.Content.ReadAsStringAsync();
            if (response.StatusCode != HttpStatusCode.OK || response.Content.Headers.ContentType?.MediaType != "application/json")
            {
                failures.Add($"valid {endpoint.Template}: {(int)response.StatusCode} {Show(body)}");
            }

            JsonDocument.Parse(body).Dispose();
        }

        using var health = await http.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        output.WriteLine($"seed {Seed}, {Cases} cases: {string.Join(", ", outcomes.OrderByDescending(o => o.Value).Select(o => $"{o.Key} x{o.Value}"))}");
        Assert.True(failures.Count == 0, $"{failures.Count} of {Cases} cases failed (seed {Seed}):\n{string.Join('\n', failures.Take(30))}");

        void Count(string outcome) => outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;

        async Task<string?> CheckAsync(HttpClient client, Case @case)
        {
            using var response = await client.GetAsync(@case.Url, HttpCompletionOption.ResponseHeadersRead);
            var status = (int)response.StatusCode;
            var json = response.Content.Headers.ContentType?.MediaType == "application/json";
            if (!json)
            {
                Count($"{status} {response.Content.Headers.ContentType?.MediaType}");

                // A request line past Kestrel's limit (8 KB) is refused by Kestrel, before the service.
                if (status == 414 && $"GET {@case.Url} HTTP/1.1\r\n".Length > 8 * 1024)
                {
                    return null;
                }

                // A wild case may still be a valid watch (unknown parameters are ignored): its stream opens.
                return status == 200 && @case.Fields is null && response.Content.Headers.ContentType?.MediaType == "text/event-stream"
                    ? null
                    : $"{status} {response.Content.Headers.ContentType}, not a JSON error";
            }

            var body = await response.Content.ReadAsStringAsync();
            using var document = JsonDocument.Parse(body);
            if (status == 200)
            {
                Count("200");
                return @case.Fields is null ? null : $"200 for a bad value: {Show(body)}";
            }

            if (!document.RootElement.TryGetProperty("error", out var error) ||
                error.GetProperty("code").GetInt32() != status ||
                error.GetProperty("status").GetString() is not { Length: > 0 } name ||
                error.GetProperty("message").GetString() is not { Length: > 0 } message)
            {
                return $"{status} without the JSON error shape: {Show(body)}";
            }

            Count($"{status} {name}");
            if (status >= 500)
            {
                return $"{status} {name}: {message}";
            }

            if (@case.Fields is { } fields && (status is not (400 or 404) || !fields.Any(f => f.StartsWith('[') ? message == f : message.Contains($"] {f}:", StringComparison.Ordinal))))
            {
                return $"{status} {name} does not name {string.Join(" or ", fields)}: {message}";
            }

            return null;
        }
    }
}
