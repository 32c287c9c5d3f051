using System.Diagnostics;
using System.Net;
using System.Text.Json;
using BedBureau.Contract.V1;
using BedBureau.Gateway.ReferenceData;
using BedBureau.Gateway.Sample;
using BedBureau.Gateway.Tests.Durability;
using BedBureau.Wire;
using BedBureau.Wire.Client;
using static BedBureau.Gateway.Tests.EndToEnd.GatewayFixture;
using WorkingDayCalendar = BedBureau.BedGrain.Domain.WorkingDayCalendar;

namespace BedBureau.Gateway.Tests.EndToEnd;

/// <summary>
/// The gateway as a real process with the JSON console log at Debug, through a scenario of
/// patients, polyclinics, a hospital and wrong callers: every line it writes is one JSON object,
/// each failed call has its line with method and status, and no line holds an IIN, an access
/// key or an API key.
/// </summary>
public sealed class StructuredLogTests : IAsyncLifetime
{
    private readonly GatewayProcess _gateway = new(
        ["--Logging:Console:FormatterName=json", "--Logging:LogLevel:Default=Debug", "--Sample:Hospitals=40", "--Sample:Referrals=200"],
        keepAllOutput: true);

    public Task InitializeAsync() => _gateway.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task A_json_log_has_a_line_per_failed_call_with_its_status_and_no_personal_data_or_keys()
    {
        var today = WorkingDayCalendar.LocalDate(DateTimeOffset.UtcNow);
        var keys = _gateway.Keys;
        var hospitalKey = keys.First(k => k.kind == "HOSPITAL");
        using var anonymous = GrpcChannel.ForAddress(_gateway.GrpcAddress);
        using var polyclinic = _gateway.ChannelFor(keys.First(k => k.kind == "POLYCLINIC"));
        using var hospital = _gateway.ChannelFor(hospitalKey);
        using var admin = _gateway.ChannelFor(keys.Single(k => k.kind == "ADMIN"));
        using var http = new HttpClient { BaseAddress = new Uri(_gateway.HttpAddress), DefaultRequestVersion = HttpVersion.Version11 };
        var info = await anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = hospitalKey.organization_id });
        var profile = info.Hospital.BedProfileCodes[0];
        var child = ReferenceCatalog.BedProfiles.Single(p => p.Code == profile).IsChild;
        var random = new Random(7);
        var iins = Enumerable.Range(0, 3).Select(_ => NationalDataset.Iin(random, today, child)).ToList();
        var secrets = new List<string>(keys.Select(k => k.key));
        var failed = new List<(string Method, string Status)>();

        async Task Fails(string method, StatusCode expected, Func<Task> call)
        {
            var error = await Assert.ThrowsAsync<RpcException>(call);
            Assert.Equal(expected, error.StatusCode);
            failed.Add(($"/{method}", expected.ToString()));
        }

        RegisterReferralRequest Registration(string iin, int inDays) => new()
        {
            RequestId = Guid.NewGuid().ToString(),
            PatientIin = iin,
            Icd10Code = "I20.8",
            BedProfileCode = profile,
            HospitalId = hospitalKey.organization_id,
            PlannedDate = Date(today.AddDays(inDays)),
            Purpose = TreatmentPurpose.Surgical,
            FinanceSource = FinanceSource.GuaranteedVolume,
            PatientRegionCode = "75",
        };

        var codes = new List<RegisterReferralResponse>();
        foreach (var (iin, i) in iins.Select((iin, i) => (iin, i)))
        {
            var registered = await polyclinic.UnaryAsync(Api.Register, Registration(iin, 3 + i));
            codes.Add(registered);
            secrets.Add(registered.AccessKey);
            await anonymous.UnaryAsync(Api.QueueStatus, new GetQueueStatusRequest { HospitalizationCode = registered.HospitalizationCode, AccessKey = registered.AccessKey });
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/v1/queue/{registered.HospitalizationCode}?access_key={Uri.EscapeDataString(registered.AccessKey)}")).StatusCode);
            await admin.UnaryAsync(Api.GetReferral, new GetReferralRequest { HospitalizationCode = registered.HospitalizationCode });
            await polyclinic.UnaryAsync(Api.GetReferral, new GetReferralRequest { HospitalizationCode = registered.HospitalizationCode });
        }

        await hospital.UnaryAsync(Api.ListQueue, new ListQueueRequest { HospitalId = hospitalKey.organization_id, BedProfileCode = profile });
        await polyclinic.UnaryAsync(Api.Cancel, new CancelReferralRequest { RequestId = Guid.NewGuid().ToString(), HospitalizationCode = codes[0].HospitalizationCode, Reason = CancellationReason.PatientRequest });

        // The failures: a wrong access key, a second active referral of a patient, a bad IIN, an unknown API key.
        var guessedKey = string.Concat(codes[1].AccessKey.Reverse());
        secrets.Add(guessedKey);
        await Fails("bedbureau.v1.PatientService/GetQueueStatus", StatusCode.NotFound,
            () => anonymous.UnaryAsync(Api.QueueStatus, new GetQueueStatusRequest { HospitalizationCode = codes[1].HospitalizationCode, AccessKey = guessedKey }));
        var twice = await Assert.ThrowsAsync<RpcException>(() => polyclinic.UnaryAsync(Api.Register, Registration(iins[1], 9)));
        failed.Add(("/bedbureau.v1.ReferralService/RegisterReferral", twice.StatusCode.ToString()));
        var badIin = iins[2][..11] + (char)('0' + ((iins[2][11] - '0' + 1) % 10));
        iins.Add(badIin);
        await Fails("bedbureau.v1.ReferralService/RegisterReferral", StatusCode.InvalidArgument, () => polyclinic.UnaryAsync(Api.Register, Registration(badIin, 4)));
        var unknownKey = $"bbk_{Guid.NewGuid():N}_{Guid.NewGuid():N}";
        secrets.Add(unknownKey);
        using (var stranger = GrpcChannel.ForAddress(_gateway.GrpcAddress, new GrpcChannelOptions { DefaultHeaders = new Metadata { { "authorization", $"Bearer {unknownKey}" } } }))
        {
            await Fails("bedbureau.v1.ReferralService/ListReferrals", StatusCode.Unauthenticated, () => stranger.UnaryAsync(Api.ListReferrals, new ListReferralsRequest()));
        }

        var overHttp = await http.GetAsync($"/v1/queue/{codes[2].HospitalizationCode}?access_key={Uri.EscapeDataString(guessedKey)}");
        Assert.Equal(HttpStatusCode.NotFound, overHttp.StatusCode);
        failed.Add(("HTTP bedbureau.v1.PatientService/GetQueueStatus", "NotFound"));
        await Fails("bedbureau.v1.HospitalService/ListQueue", StatusCode.PermissionDenied,
            () => polyclinic.UnaryAsync(Api.ListQueue, new ListQueueRequest { HospitalId = hospitalKey.organization_id, BedProfileCode = profile }));

        // The console logger writes from a queue: wait for the last failure's line. Every line
        // must parse as one JSON object (JsonDocument.Parse throws otherwise).
        var waited = Stopwatch.StartNew();
        List<JsonElement> entries;
        while (true)
        {
            entries = [.. _gateway.AllOutput.Select(line => JsonDocument.Parse(line).RootElement)];
            if (failed.All(f => entries.Any(e => IsCallFailed(e, f.Method, f.Status))) || waited.Elapsed > TimeSpan.FromSeconds(10))
            {
                break;
            }

            await Task.Delay(100);
        }

        foreach (var (method, status) in failed)
        {
            Assert.True(entries.Count(e => IsCallFailed(e, method, status)) == 1, $"no single CallFailed line for {method} {status}");
        }

        // The sample's patients too: the gateway seeded them in this run.
        var samplePatients = NationalDataset.Generate(2026, today, 40, 200).Referrals.Select(r => r.PatientIin);
        var lines = _gateway.AllOutput;
        Assert.Contains(entries, e => e.GetProperty("LogLevel").GetString() == "Debug");
        foreach (var secret in iins.Concat(samplePatients).Concat(secrets))
        {
            Assert.DoesNotContain(lines, line => line.Contains(secret, StringComparison.Ordinal));
        }
    }

    /// <param name="method">"/service/Method" for gRPC, "HTTP service/Method" for the JSON API.</param>
    private static bool IsCallFailed(JsonElement entry, string method, string status)
    {
        var (category, name) = method.StartsWith("HTTP ", StringComparison.Ordinal) ? ("BedBureau.Gateway.Http", method[5..]) : ("BedBureau.GrpcServer", method);
        return entry.GetProperty("Category").GetString() == category
            && entry.TryGetProperty("State", out var state)
            && state.TryGetProperty("StatusCode", out var code) && code.GetString() == status
            && state.TryGetProperty("Method", out var called) && called.GetString() == name;
    }
}
