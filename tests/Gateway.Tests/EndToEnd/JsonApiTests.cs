using System.Net;
using System.Text.Json;
using BedBureau.Contract.V1;
using Google.Protobuf;

namespace BedBureau.Gateway.Tests.EndToEnd;

/// <summary>The JSON/HTTP front door on the HTTP/1.1 endpoint: same answers as gRPC, errors as HTTP statuses, live updates as SSE.</summary>
[Collection(GatewayCollection.Name)]
public sealed class JsonApiTests(GatewayFixture gateway)
{
    private static readonly JsonParser Parser = new(JsonParser.Settings.Default);

    private HttpClient Http() => new() { BaseAddress = new Uri(gateway.HttpAddress), DefaultRequestVersion = HttpVersion.Version11 };

    private static async Task<(HttpStatusCode Status, string Reason, string Message)> ErrorOf(HttpResponseMessage response)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var error = json.RootElement.GetProperty("error");
        Assert.Equal((int)response.StatusCode, error.GetProperty("code").GetInt32());
        return (response.StatusCode, error.GetProperty("status").GetString()!, error.GetProperty("message").GetString()!);
    }

    [Fact]
    public async Task Queue_status_by_code_and_access_key_in_a_header_or_the_query_is_canonical_json_without_personal_data()
    {
        var (hospital, profile, iin) = await Scenario.TargetAsync(gateway);
        using var polyclinic = gateway.ChannelFor(gateway.Polyclinic());
        var registered = await polyclinic.UnaryAsync(Api.Register, Scenario.Registration(gateway, hospital, profile, iin));
        using var http = Http();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/queue/{registered.HospitalizationCode}");
        request.Headers.Add("X-Access-Key", registered.AccessKey);

        using var byHeader = await http.SendAsync(request);
        var text = await byHeader.Content.ReadAsStringAsync();
        var byQuery = await http.GetStringAsync($"/v1/queue/{registered.HospitalizationCode}?access_key={Uri.EscapeDataString(registered.AccessKey)}");

        Assert.Equal(HttpStatusCode.OK, byHeader.StatusCode);
        var status = Parser.Parse<GetQueueStatusResponse>(text).Status;
        var grpc = await gateway.Anonymous.UnaryAsync(Api.QueueStatus, new GetQueueStatusRequest { HospitalizationCode = registered.HospitalizationCode, AccessKey = registered.AccessKey });
        Assert.Equal(grpc.Status, status);
        Assert.Equal(grpc.Status, Parser.Parse<GetQueueStatusResponse>(byQuery).Status);
        Assert.Contains("\"hospitalizationCode\"", text, StringComparison.Ordinal); // lowerCamelCase: protobuf's JSON mapping
        Assert.Contains("\"REFERRAL_STATUS_REGISTERED\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain(iin, text, StringComparison.Ordinal);
        Assert.DoesNotContain("I20.8", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Errors_are_http_statuses_with_the_reason_and_field()
    {
        var registered = await Scenario.RegisterAsync(gateway);
        using var http = Http();

        var wrongKey = await ErrorOf(await http.GetAsync($"/v1/queue/{registered.HospitalizationCode}?access_key=AAAAA-BBBBB"));
        var badCode = await ErrorOf(await http.GetAsync("/v1/queue/nonsense?access_key=AAAAA-BBBBB"));
        var noKey = await ErrorOf(await http.GetAsync($"/v1/queue/{registered.HospitalizationCode}"));
        var badDate = await ErrorOf(await http.GetAsync("/v1/free-beds?profile=101&from=23.11.2026"));
        var badProfile = await ErrorOf(await http.GetAsync("/v1/free-beds?profile=999"));
        var noHospital = await ErrorOf(await http.GetAsync("/v1/hospitals/NOPE"));

        Assert.Equal((HttpStatusCode.NotFound, "NOT_FOUND"), (wrongKey.Status, wrongKey.Reason));
        Assert.Equal((HttpStatusCode.BadRequest, "INVALID_ARGUMENT"), (badCode.Status, badCode.Reason));
        Assert.Contains("hospitalization_code", badCode.Message, StringComparison.Ordinal);
        Assert.Contains("access_key", noKey.Message, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, badDate.Status);
        Assert.Contains("from", badDate.Message, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, badProfile.Status);
        Assert.Equal(HttpStatusCode.NotFound, noHospital.Status);
    }

    [Fact]
    public async Task Free_beds_answer_as_the_grpc_search_does()
    {
        var (_, profile, _) = await Scenario.TargetAsync(gateway);
        var from = gateway.Today.AddDays(1);
        var to = gateway.Today.AddDays(12);
        using var admin = gateway.ChannelFor(gateway.Admin);
        var grpc = await admin.UnaryAsync(Api.Search, new SearchFreeBedsRequest
        {
            BedProfileCode = profile,
            DateFrom = GatewayFixture.Date(from),
            DateTo = GatewayFixture.Date(to),
            MaxResults = 100,
        });
        using var http = Http();

        var json = Parser.Parse<SearchFreeBedsResponse>(await http.GetStringAsync($"/v1/free-beds?profile={profile}&from={from:yyyy-MM-dd}&to={to:yyyy-MM-dd}&max_results=100"));
        var region = grpc.Offers[0].RegionCode;
        var inRegion = Parser.Parse<SearchFreeBedsResponse>(await http.GetStringAsync($"/v1/free-beds?profile={profile}&region={region}&from={from:yyyy-MM-dd}&to={to:yyyy-MM-dd}"));

        Assert.NotEmpty(json.Offers);
        Assert.Equal(grpc.Offers, json.Offers);
        Assert.All(inRegion.Offers, o => Assert.Equal(region, o.RegionCode));
        Assert.Equal(grpc.Offers.Where(o => o.RegionCode == region).Select(o => o.HospitalId), inRegion.Offers.Select(o => o.HospitalId));
    }

    [Fact]
    public async Task Directory_reads_are_public()
    {
        using var http = Http();

        var regions = Parser.Parse<ListRegionsResponse>(await http.GetStringAsync("/v1/regions"));
        var children = Parser.Parse<ListBedProfilesResponse>(await http.GetStringAsync("/v1/bed-profiles?age_group=CHILD"));
        var hospitals = Parser.Parse<ListHospitalsResponse>(await http.GetStringAsync("/v1/hospitals?page_size=3"));
        var hospital = Parser.Parse<GetHospitalResponse>(await http.GetStringAsync($"/v1/hospitals/{hospitals.Hospitals[0].Id}"));

        Assert.Equal(20, regions.Regions.Count);
        Assert.NotEmpty(children.Profiles);
        Assert.All(children.Profiles, p => Assert.Equal(AgeGroup.Child, p.AgeGroup));
        Assert.Equal(3, hospitals.Hospitals.Count);
        Assert.NotEmpty(hospitals.NextPageToken);
        Assert.Equal(hospitals.Hospitals[0].Id, hospital.Hospital.Id);
        Assert.Equal(hospital.Hospital.BedProfileCodes.Count, hospital.Census.Count);
    }

    /// <summary>A POST of the patient's cancellation: the key in the X-Access-Key header (none when null), the body as given.</summary>
    internal static HttpRequestMessage CancelRequest(string pathAndQuery, string? accessKey, string body, string contentType = "application/json")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, pathAndQuery) { Content = new StringContent(body, System.Text.Encoding.UTF8, contentType) };
        if (accessKey is not null)
        {
            request.Headers.Add("X-Access-Key", accessKey);
        }

        return request;
    }

    [Fact]
    public async Task A_patient_cancels_by_post_with_the_key_in_a_header_and_gets_the_status_as_json()
    {
        var (hospital, profile, iin) = await Scenario.TargetAsync(gateway);
        using var polyclinic = gateway.ChannelFor(gateway.Polyclinic());
        var registered = await polyclinic.UnaryAsync(Api.Register, Scenario.Registration(gateway, hospital, profile, iin));
        var path = $"/v1/queue/{registered.HospitalizationCode}/cancel";
        var body = $$"""{"requestId": "{{Guid.NewGuid()}}", "reason": "CANCELLATION_REASON_HOSPITALIZED_ELSEWHERE"}""";
        using var http = Http();

        using var response = await http.SendAsync(CancelRequest(path, registered.AccessKey, body));
        var text = await response.Content.ReadAsStringAsync();
        using var again = await http.SendAsync(CancelRequest(path, registered.AccessKey, body));
        var lookup = await http.GetStringAsync($"/v1/queue/{registered.HospitalizationCode}?access_key={Uri.EscapeDataString(registered.AccessKey)}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var status = Parser.Parse<PatientServiceCancelReferralResponse>(text).Status;
        Assert.Equal(ReferralStatus.Cancelled, status.Status);
        Assert.Contains("\"REFERRAL_STATUS_CANCELLED\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain(iin, text, StringComparison.Ordinal);
        Assert.Equal((HttpStatusCode.OK, text), (again.StatusCode, await again.Content.ReadAsStringAsync()));
        Assert.Equal(status, Parser.Parse<GetQueueStatusResponse>(lookup).Status);
        var seen = (await polyclinic.UnaryAsync(Api.GetReferral, new GetReferralRequest { HospitalizationCode = registered.HospitalizationCode })).Referral;
        Assert.Equal(CancellationReason.HospitalizedElsewhere, seen.CancellationReason);
        Assert.Single(seen.History, e => e.Action == "CANCELLED" && e.ActorOrganizationId == "PATIENT");
    }

    [Fact]
    public async Task A_cancellation_takes_the_key_from_the_header_only_refuses_bad_bodies_naming_the_field_and_audits_each_refusal()
    {
        var registered = await Scenario.RegisterAsync(gateway);
        var path = $"/v1/queue/{registered.HospitalizationCode}/cancel";
        var key = registered.AccessKey;
        string Body(string reason) => $$"""{"requestId": "{{Guid.NewGuid()}}", "reason": "{{reason}}"}""";
        using var http = Http();

        var keyInQuery = await ErrorOf(await http.SendAsync(CancelRequest($"{path}?access_key={Uri.EscapeDataString(key)}", null, Body("CANCELLATION_REASON_PATIENT_REQUEST"))));
        var wrongKey = await ErrorOf(await http.SendAsync(CancelRequest(path, "AAAAA-BBBBB", Body("CANCELLATION_REASON_PATIENT_REQUEST"))));
        var lookupWrongKey = await ErrorOf(await http.GetAsync($"/v1/queue/{registered.HospitalizationCode}?access_key=AAAAA-BBBBB"));
        var notJson = await ErrorOf(await http.SendAsync(CancelRequest(path, key, "reason=CANCELLATION_REASON_PATIENT_REQUEST", "application/x-www-form-urlencoded")));
        var badJson = await ErrorOf(await http.SendAsync(CancelRequest(path, key, "{\"requestId\": ")));
        var unknownReason = await ErrorOf(await http.SendAsync(CancelRequest(path, key, Body("CANCELLATION_REASON_BORED"))));
        var noReason = await ErrorOf(await http.SendAsync(CancelRequest(path, key, $$"""{"requestId": "{{Guid.NewGuid()}}"}""")));
        var otherWithoutText = await ErrorOf(await http.SendAsync(CancelRequest(path, key, Body("CANCELLATION_REASON_OTHER"))));
        var tooLarge = await ErrorOf(await http.SendAsync(CancelRequest(path, key, $$"""{"requestId": "{{Guid.NewGuid()}}", "reasonText": "{{new string('x', 20_000)}}"}""")));

        Assert.Equal((HttpStatusCode.BadRequest, "INVALID_ARGUMENT"), (keyInQuery.Status, keyInQuery.Reason));
        Assert.Contains("] access_key: ", keyInQuery.Message, StringComparison.Ordinal);
        Assert.Equal((HttpStatusCode.NotFound, "NOT_FOUND", lookupWrongKey.Message), wrongKey);
        foreach (var (error, field) in new[] { (notJson, "body"), (badJson, "body"), (unknownReason, "body"), (noReason, "reason"), (otherWithoutText, "reason_text"), (tooLarge, "body") })
        {
            Assert.Equal((HttpStatusCode.BadRequest, "INVALID_ARGUMENT"), (error.Status, error.Reason));
            Assert.Contains($"] {field}: ", error.Message, StringComparison.Ordinal);
        }

        var status = await gateway.Anonymous.UnaryAsync(Api.QueueStatus, new GetQueueStatusRequest { HospitalizationCode = registered.HospitalizationCode, AccessKey = key });
        Assert.Equal(ReferralStatus.Registered, status.Status.Status);
        using var admin = gateway.ChannelFor(gateway.Admin);
        var trail = (await admin.UnaryAsync(Api.ListAudit, new ListAuditRecordsRequest { Target = registered.HospitalizationCode, Action = "bedbureau.v1.PatientService/CancelReferral" })).Records;
        Assert.Equal(8, trail.Count);
        Assert.All(trail, r => Assert.Equal("PATIENT", r.ActorOrganizationId));
        Assert.Equal(["INVALID_ARGUMENT", "NOT_FOUND", "INVALID_ARGUMENT", "INVALID_ARGUMENT", "INVALID_ARGUMENT", "INVALID_ARGUMENT", "INVALID_ARGUMENT", "INVALID_ARGUMENT"], trail.Select(r => r.Outcome));
    }

    [Fact]
    public async Task Server_sent_events_carry_a_change_made_over_grpc()
    {
        var registered = await Scenario.RegisterAsync(gateway);
        using var http = Http();
        using var response = await http.GetAsync($"/v1/queue/{registered.HospitalizationCode}/events?access_key={Uri.EscapeDataString(registered.AccessKey)}", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());

        var first = await NextStatusAsync(reader);
        using var hospital = gateway.ChannelFor(gateway.Hospital());
        await hospital.UnaryAsync(Api.Schedule, new ScheduleReferralRequest { RequestId = Guid.NewGuid().ToString(), HospitalizationCode = registered.HospitalizationCode });
        var second = await NextStatusAsync(reader);

        Assert.Equal(ReferralStatus.Registered, first.Status);
        Assert.Equal(ReferralStatus.Scheduled, second.Status);
        Assert.Equal(["REGISTERED", "SCHEDULED"], second.History.Select(e => e.Action));
    }

    private static async Task<QueueStatus> NextStatusAsync(StreamReader reader)
    {
        string? type = null;
        while (await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                type = line[7..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal) && type == "status")
            {
                return Parser.Parse<QueueStatus>(line[6..]);
            }
        }

        throw new EndOfStreamException("The event stream ended.");
    }
}

/// <summary>Rate limits apply to the JSON front door as to gRPC: past the burst, 429 with Retry-After.</summary>
public sealed class JsonApiRateLimitTests : IAsyncLifetime
{
    private readonly RateLimitedGateway _gateway = new();

    private sealed class RateLimitedGateway : GatewayFixture
    {
        protected override Task<IEnumerable<string>> SettingsAsync() =>
            Task.FromResult<IEnumerable<string>>(["--Patients:LookupBurst=3", "--Patients:LookupsPerSecond=0.01", "--Sample:Hospitals=5", "--Sample:Referrals=10"]);
    }

    public Task InitializeAsync() => _gateway.InitializeAsync();

    public Task DisposeAsync() => _gateway.DisposeAsync();

    [Fact]
    public async Task Lookups_past_the_burst_get_429_with_retry_after()
    {
        using var http = new HttpClient { BaseAddress = new Uri(_gateway.HttpAddress) };
        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? last = null;
        for (var i = 0; i < 4; i++)
        {
            last?.Dispose();
            last = await http.GetAsync("/v1/queue/61.01W9.321.72S?access_key=AAAAA-BBBBB");
            statuses.Add(last.StatusCode);
        }

        Assert.All(statuses.Take(3), s => Assert.NotEqual(HttpStatusCode.TooManyRequests, s));
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[3]);
        Assert.True(last!.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        Assert.Contains("RATE_LIMITED", await last.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        last.Dispose();
    }

    [Fact]
    public async Task A_cancellation_takes_a_lookup_of_the_same_limit()
    {
        using var http = new HttpClient { BaseAddress = new Uri(_gateway.HttpAddress) };
        for (var i = 0; i < 3; i++)
        {
            using var lookup = await http.GetAsync("/v1/queue/61.01W9.321.72S?access_key=AAAAA-BBBBB");
            Assert.Equal(HttpStatusCode.NotFound, lookup.StatusCode);
        }

        using var cancel = await http.SendAsync(JsonApiTests.CancelRequest("/v1/queue/61.01W9.321.72S/cancel", "AAAAA-BBBBB",
            $$"""{"requestId": "{{Guid.NewGuid()}}", "reason": "CANCELLATION_REASON_PATIENT_REQUEST"}"""));

        Assert.Equal(HttpStatusCode.TooManyRequests, cancel.StatusCode);
        Assert.True(cancel.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        Assert.Contains("RATE_LIMITED", await cancel.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
