using BedBureau.Contract.Health.V1;
using BedBureau.Contract.V1;
using BedBureau.Gateway.ReferenceData;
using BedBureau.Gateway.Sample;
using BedBureau.Wire;
using BedBureau.Wire.Client;
using static BedBureau.Gateway.Tests.EndToEnd.GatewayFixture;

namespace BedBureau.Gateway.Tests.EndToEnd;

/// <summary>Whole journeys over the real wire: polyclinic, hospital and patient, each with their own keys.</summary>
[Collection(GatewayCollection.Name)]
public sealed class PatientJourneyTests(GatewayFixture gateway)
{
    private static int _serial;

    /// <summary>A profile the first demo hospital offers, with a valid IIN of the right age for it.</summary>
    private async Task<(string Hospital, string Profile, string Iin)> TargetAsync(int hospitalIndex = 0)
    {
        var hospital = gateway.Hospital(hospitalIndex).organization_id;
        var info = await gateway.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = hospital });
        var profile = info.Hospital.BedProfileCodes[0];
        var child = ReferenceCatalog.BedProfiles.Single(p => p.Code == profile).IsChild;
        var iin = NationalDataset.Iin(new Random(Interlocked.Increment(ref _serial) * 7919), gateway.Today, child);
        return (hospital, profile, iin);
    }

    private RegisterReferralRequest Registration(string hospital, string profile, string iin, int inDays = 2) => new()
    {
        RequestId = Guid.NewGuid().ToString(),
        PatientIin = iin,
        Icd10Code = "I20.8",
        BedProfileCode = profile,
        HospitalId = hospital,
        PlannedDate = Date(gateway.Today.AddDays(inDays)),
        Purpose = TreatmentPurpose.Surgical,
        FinanceSource = FinanceSource.GuaranteedVolume,
        PatientRegionCode = "75",
        PatientLocality = "Almaty",
    };

    [Fact]
    public async Task Search_register_watch_schedule_admit()
    {
        var (hospital, profile, iin) = await TargetAsync();
        using var polyclinic = gateway.ChannelFor(gateway.Polyclinic());
        using var hospitalClient = gateway.ChannelFor(gateway.Hospital());

        var offers = await polyclinic.UnaryAsync(Api.Search, new SearchFreeBedsRequest { BedProfileCode = profile });
        Assert.Contains(offers.Offers, o => o.HospitalId == hospital);
        Assert.All(offers.Offers, o => Assert.NotEqual(Freshness.Unspecified, o.Census.Freshness));

        var registered = await polyclinic.UnaryAsync(Api.Register, Registration(hospital, profile, iin));
        Assert.Matches(@"^75\.", registered.HospitalizationCode);
        Assert.True(registered.QueuePosition >= 1);
        Assert.Equal(iin, registered.Referral.PatientIin);

        using var watch = gateway.Anonymous.ServerStreaming(Api.WatchQueueStatus,
            new WatchQueueStatusRequest { HospitalizationCode = registered.HospitalizationCode, AccessKey = registered.AccessKey });
        Assert.True(await watch.ResponseStream.MoveNext());
        var first = watch.ResponseStream.Current.Status;
        Assert.Equal(ReferralStatus.Registered, first.Status);
        Assert.Equal("", first.History[0].ActorOrganizationId); // patients see no organisation ids

        await hospitalClient.UnaryAsync(Api.Schedule, new ScheduleReferralRequest { RequestId = Guid.NewGuid().ToString(), HospitalizationCode = registered.HospitalizationCode });
        Assert.True(await watch.ResponseStream.MoveNext());
        Assert.Equal(ReferralStatus.Scheduled, watch.ResponseStream.Current.Status.Status);

        var admitted = await hospitalClient.UnaryAsync(Api.Admit, new AdmitPatientRequest { RequestId = Guid.NewGuid().ToString(), HospitalizationCode = registered.HospitalizationCode });
        Assert.Equal(ReferralStatus.Admitted, admitted.Referral.Status);
        Assert.True(await watch.ResponseStream.MoveNext());
        var last = watch.ResponseStream.Current.Status;
        Assert.Equal(ReferralStatus.Admitted, last.Status);
        Assert.Equal(["REGISTERED", "SCHEDULED", "ADMITTED"], last.History.Select(e => e.Action));
        Assert.DoesNotContain(iin, last.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Refusal_reaches_the_patient_with_its_reason()
    {
        var (hospital, profile, iin) = await TargetAsync();
        using var polyclinic = gateway.ChannelFor(gateway.Polyclinic());
        using var hospitalClient = gateway.ChannelFor(gateway.Hospital());
        var registered = await polyclinic.UnaryAsync(Api.Register, Registration(hospital, profile, iin));

        await hospitalClient.UnaryAsync(Api.Refuse, new RefusePatientRequest
        {
            RequestId = Guid.NewGuid().ToString(),
            HospitalizationCode = registered.HospitalizationCode,
            Reason = RefusalReason.IncompleteDocuments,
            ReasonText = "ECG older than 14 days",
        });
        var status = await gateway.Anonymous.UnaryAsync(Api.QueueStatus, new GetQueueStatusRequest { HospitalizationCode = registered.HospitalizationCode, AccessKey = registered.AccessKey });

        Assert.Equal(ReferralStatus.Refused, status.Status.Status);
        Assert.Equal("ECG older than 14 days", status.Status.LastChangeReason);
        Assert.Equal(0, status.Status.QueuePosition);
    }

    [Fact]
    public async Task A_retried_registration_returns_the_same_code_and_key()
    {
        var (hospital, profile, iin) = await TargetAsync();
        using var polyclinic = gateway.ChannelFor(gateway.Polyclinic());
        var request = Registration(hospital, profile, iin);

        var first = await polyclinic.UnaryAsync(Api.Register, request);
        var retry = await polyclinic.UnaryAsync(Api.Register, request);

        Assert.Equal((first.HospitalizationCode, first.AccessKey), (retry.HospitalizationCode, retry.AccessKey));
    }

    [Fact]
    public async Task Bad_input_is_invalid_argument_naming_the_field_and_changes_nothing()
    {
        var (hospital, profile, iin) = await TargetAsync();
        using var polyclinic = gateway.ChannelFor(gateway.Polyclinic());
        var before = await polyclinic.UnaryAsync(Api.Search, new SearchFreeBedsRequest { BedProfileCode = profile, MaxResults = 500 });

        var cases = new (Action<RegisterReferralRequest> Spoil, string Field)[]
        {
            (r => r.PatientIin = iin[..11] + (char)('0' + (iin[11] - '0' + 1) % 10), "patient_iin"),
            (r => r.Icd10Code = "20.8", "icd10_code"),
            (r => r.PlannedDate = Date(gateway.Today.AddDays(-1)), "planned_date"),
            (r => r.PlannedDate = new CalendarDate { Year = 2026, Month = 2, Day = 30 }, "planned_date"),
            (r => r.Purpose = TreatmentPurpose.Unspecified, "purpose"),
            (r => r.PatientRegionCode = "99", "patient_region_code"),
            (r => r.RequestId = "", "request_id"),
        };
        foreach (var (spoil, field) in cases)
        {
            var request = Registration(hospital, profile, iin);
            spoil(request);
            var error = await Assert.ThrowsAsync<RpcException>(() => polyclinic.UnaryAsync(Api.Register, request));
            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
            Assert.Contains(field, error.Status.Detail, StringComparison.Ordinal);
            Assert.DoesNotContain(iin[..11], error.Status.Detail, StringComparison.Ordinal);
        }

        var after = await polyclinic.UnaryAsync(Api.Search, new SearchFreeBedsRequest { BedProfileCode = profile, MaxResults = 500 });
        Assert.Equal(before.Offers.Sum(o => o.FreeSlotsInRange), after.Offers.Sum(o => o.FreeSlotsInRange));
    }

    [Fact]
    public async Task Hospital_watch_resumes_from_its_token_without_losing_or_repeating_events()
    {
        var (hospital, profile, iin) = await TargetAsync(1);
        using var polyclinic = gateway.ChannelFor(gateway.Polyclinic());
        using var hospitalClient = gateway.ChannelFor(gateway.Hospital(1));
        string token;
        string code;
        using (var watch = hospitalClient.ServerStreaming(Api.WatchReferrals, new WatchReferralsRequest()))
        {
            await watch.ResponseHeadersAsync().WaitAsync(TimeSpan.FromSeconds(10)); // subscribed
            var moving = watch.ResponseStream.MoveNext();
            code = (await polyclinic.UnaryAsync(Api.Register, Registration(hospital, profile, iin))).HospitalizationCode;
            Assert.True(await moving.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal(("REGISTERED", code), (watch.ResponseStream.Current.Event.Action, watch.ResponseStream.Current.Referral.HospitalizationCode));
            Assert.Equal(iin, watch.ResponseStream.Current.Referral.PatientIin);
            token = watch.ResponseStream.Current.ResumeToken;
        }

        // While disconnected: two changes.
        await hospitalClient.UnaryAsync(Api.Schedule, new ScheduleReferralRequest { RequestId = Guid.NewGuid().ToString(), HospitalizationCode = code });
        await hospitalClient.UnaryAsync(Api.Admit, new AdmitPatientRequest { RequestId = Guid.NewGuid().ToString(), HospitalizationCode = code });

        using var resumed = hospitalClient.ServerStreaming(Api.WatchReferrals, new WatchReferralsRequest { ResumeToken = token });
        Assert.True(await resumed.ResponseStream.MoveNext().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("SCHEDULED", resumed.ResponseStream.Current.Event.Action);
        Assert.True(await resumed.ResponseStream.MoveNext().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("ADMITTED", resumed.ResponseStream.Current.Event.Action);
    }

    [Fact]
    public async Task Health_serves_while_storage_is_reachable()
    {
        var health = await gateway.Anonymous.UnaryAsync(Api.HealthCheck, new HealthCheckRequest());

        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
    }
}
