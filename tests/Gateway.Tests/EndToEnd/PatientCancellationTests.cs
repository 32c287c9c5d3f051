using BedBureau.Contract.V1;
using BedBureau.Gateway.Tests.Security;
using BedBureau.Wire;

namespace BedBureau.Gateway.Tests.EndToEnd;

/// <summary>PatientService.CancelReferral over the real wire: the patient cancels their own referral with the coupon.</summary>
[Collection(GatewayCollection.Name)]
public sealed class PatientCancellationTests(GatewayFixture gateway)
{
    /// <summary>A day no other test of the shared gateway plans for: its one slot is this file's to fill.</summary>
    private const int OneSlotInDays = 57;

    internal static PatientServiceCancelReferralRequest Request(string code, string accessKey, CancellationReason reason = CancellationReason.PatientRequest, string text = "") => new()
    {
        RequestId = Guid.NewGuid().ToString(),
        HospitalizationCode = code,
        AccessKey = accessKey,
        Reason = reason,
        ReasonText = text,
    };

    internal static string WrongKey(string accessKey) => accessKey[..^1] + (accessKey[^1] == 'A' ? 'B' : 'A');

    private Task<GetQueueStatusResponse> LookUpAsync(RegisterReferralResponse registered) =>
        gateway.Anonymous.UnaryAsync(Api.QueueStatus, new GetQueueStatusRequest { HospitalizationCode = registered.HospitalizationCode, AccessKey = registered.AccessKey });

    private async Task<Referral> PolyclinicViewAsync(string code)
    {
        using var polyclinic = gateway.ChannelFor(gateway.Polyclinic());
        return (await polyclinic.UnaryAsync(Api.GetReferral, new GetReferralRequest { HospitalizationCode = code })).Referral;
    }

    private async Task<List<AuditRecord>> TrailAsync(string code)
    {
        using var admin = gateway.ChannelFor(gateway.Admin);
        return (await admin.UnaryAsync(Api.ListAudit, new ListAuditRecordsRequest { Target = code, Action = "bedbureau.v1.PatientService/CancelReferral" })).Records.ToList();
    }

    [Fact]
    public async Task The_patient_cancels_with_code_and_key_the_slot_is_freed_and_the_event_names_the_patient_and_the_reason()
    {
        var (hospital, profile, iin) = await Scenario.TargetAsync(gateway, 2);
        await Scenario.OpenDayAsync(gateway, gateway.Hospital(2), profile, OneSlotInDays, slots: 1);
        using var polyclinic = gateway.ChannelFor(gateway.Polyclinic());
        var registered = await polyclinic.UnaryAsync(Api.Register, Scenario.Registration(gateway, hospital, profile, iin, OneSlotInDays));
        var full = await Assert.ThrowsAsync<RpcException>(() => polyclinic.UnaryAsync(Api.Register, Scenario.NewPatientRegistration(gateway, hospital, profile, OneSlotInDays)));
        Assert.Equal(ReferralStatus.Registered, (await LookUpAsync(registered)).Status.Status);

        var cancelled = (await gateway.Anonymous.UnaryAsync(Api.PatientCancel, Request(registered.HospitalizationCode, registered.AccessKey, CancellationReason.HealthImproved))).Status;
        var next = await polyclinic.UnaryAsync(Api.Register, Scenario.NewPatientRegistration(gateway, hospital, profile, OneSlotInDays));

        Assert.StartsWith("[NO_FREE_SLOT]", full.Status.Detail, StringComparison.Ordinal);
        Assert.Equal((ReferralStatus.Cancelled, 0), (cancelled.Status, cancelled.QueuePosition));
        Assert.Equal(["REGISTERED", "CANCELLED"], cancelled.History.Select(e => e.Action));
        Assert.Equal("", cancelled.History[^1].ActorOrganizationId); // patients see no actor ids
        Assert.DoesNotContain(iin, cancelled.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("I20.8", cancelled.ToString(), StringComparison.Ordinal);
        Assert.Equal(ReferralStatus.Registered, next.Referral.Status);
        Assert.Equal(cancelled, (await LookUpAsync(registered)).Status);

        var seen = await PolyclinicViewAsync(registered.HospitalizationCode);
        Assert.Equal((ReferralStatus.Cancelled, CancellationReason.HealthImproved), (seen.Status, seen.CancellationReason));
        var last = seen.History[^1];
        Assert.Equal(("CANCELLED", ReferralStatus.Cancelled, "PATIENT", "Cancelled by the patient: HealthImproved"), (last.Action, last.Status, last.ActorOrganizationId, last.Reason));
    }

    [Fact]
    public async Task A_wrong_key_and_an_unknown_code_answer_the_same_not_found_as_a_lookup_and_change_nothing()
    {
        var registered = await Scenario.RegisterAsync(gateway);
        var code = registered.HospitalizationCode;
        var unknownCode = code[..(code.LastIndexOf('.') + 1)] + "ZZZZZZ";

        var wrongKey = await Assert.ThrowsAsync<RpcException>(() => gateway.Anonymous.UnaryAsync(Api.PatientCancel, Request(code, WrongKey(registered.AccessKey))));
        var unknown = await Assert.ThrowsAsync<RpcException>(() => gateway.Anonymous.UnaryAsync(Api.PatientCancel, Request(unknownCode, registered.AccessKey)));
        var lookup = await Assert.ThrowsAsync<RpcException>(() => gateway.Anonymous.UnaryAsync(Api.QueueStatus,
            new GetQueueStatusRequest { HospitalizationCode = code, AccessKey = WrongKey(registered.AccessKey) }));

        Assert.Equal(StatusCode.NotFound, wrongKey.StatusCode);
        Assert.Equal((wrongKey.StatusCode, wrongKey.Status.Detail), (unknown.StatusCode, unknown.Status.Detail));
        Assert.Equal((wrongKey.StatusCode, wrongKey.Status.Detail), (lookup.StatusCode, lookup.Status.Detail));
        var status = (await LookUpAsync(registered)).Status;
        Assert.Equal(ReferralStatus.Registered, status.Status);
        Assert.Single(status.History);
    }

    [Fact]
    public async Task A_terminal_referral_is_a_failed_precondition()
    {
        var registered = await Scenario.RegisterAsync(gateway);
        using var polyclinic = gateway.ChannelFor(gateway.Polyclinic());
        await polyclinic.UnaryAsync(Api.Cancel, new CancelReferralRequest
        {
            RequestId = Guid.NewGuid().ToString(),
            HospitalizationCode = registered.HospitalizationCode,
            Reason = CancellationReason.RegisteredInError,
        });

        var error = await Assert.ThrowsAsync<RpcException>(() => gateway.Anonymous.UnaryAsync(Api.PatientCancel, Request(registered.HospitalizationCode, registered.AccessKey)));

        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.StartsWith("[INVALID_TRANSITION]", error.Status.Detail, StringComparison.Ordinal);
        var seen = await PolyclinicViewAsync(registered.HospitalizationCode);
        Assert.Equal((CancellationReason.RegisteredInError, gateway.Polyclinic().organization_id), (seen.CancellationReason, seen.History[^1].ActorOrganizationId));
    }

    public static TheoryData<string, string> InvalidRequests => new()
    {
        { "no reason", "reason" },
        { "unknown reason", "reason" },
        { "OTHER without text", "reason_text" },
        { "text too long", "reason_text" },
        { "no request id", "request_id" },
        { "malformed code", "hospitalization_code" },
        { "no access key", "access_key" },
    };

    [Theory]
    [MemberData(nameof(InvalidRequests))]
    public async Task An_invalid_request_is_an_invalid_argument_naming_its_field(string what, string field)
    {
        var registered = await Scenario.RegisterAsync(gateway);
        var request = Request(registered.HospitalizationCode, registered.AccessKey);
        switch (what)
        {
            case "no reason":
                request.Reason = CancellationReason.Unspecified;
                break;
            case "unknown reason":
                request.Reason = (CancellationReason)99;
                break;
            case "OTHER without text":
                request.Reason = CancellationReason.Other;
                request.ReasonText = " ";
                break;
            case "text too long":
                request.ReasonText = new string('x', 1001);
                break;
            case "no request id":
                request.RequestId = "";
                break;
            case "malformed code":
                request.HospitalizationCode = "nonsense";
                break;
            default:
                request.AccessKey = "";
                break;
        }

        var error = await Assert.ThrowsAsync<RpcException>(() => gateway.Anonymous.UnaryAsync(Api.PatientCancel, request));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains($"] {field}: ", error.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(ReferralStatus.Registered, (await LookUpAsync(registered)).Status.Status);
    }

    [Fact]
    public async Task Repeating_the_request_id_answers_the_first_result_with_one_event_and_one_audit_record()
    {
        var registered = await Scenario.RegisterAsync(gateway);
        var request = Request(registered.HospitalizationCode, registered.AccessKey, CancellationReason.Other, "Лечусь в другом городе");

        var first = await gateway.Anonymous.UnaryAsync(Api.PatientCancel, request);
        var again = await gateway.Anonymous.UnaryAsync(Api.PatientCancel, request);

        Assert.Equal(ReferralStatus.Cancelled, first.Status.Status);
        Assert.Equal(first, again);
        var seen = await PolyclinicViewAsync(registered.HospitalizationCode);
        Assert.Single(seen.History, e => e.Action == "CANCELLED");
        Assert.Equal("Лечусь в другом городе", seen.History[^1].Reason);
        Assert.Single(await TrailAsync(registered.HospitalizationCode));
    }

    [Fact]
    public async Task The_audit_trail_records_attempts_and_the_cancellation_under_the_patients_token_without_the_iin()
    {
        var (hospital, profile, iin) = await Scenario.TargetAsync(gateway);
        using var polyclinic = gateway.ChannelFor(gateway.Polyclinic());
        var registered = await polyclinic.UnaryAsync(Api.Register, Scenario.Registration(gateway, hospital, profile, iin));
        var guess = Request(registered.HospitalizationCode, WrongKey(registered.AccessKey));
        var cancel = Request(registered.HospitalizationCode, registered.AccessKey, CancellationReason.Other, $"my IIN is {iin}");
        await Assert.ThrowsAsync<RpcException>(() => gateway.Anonymous.UnaryAsync(Api.PatientCancel, guess));
        await gateway.Anonymous.UnaryAsync(Api.PatientCancel, cancel);

        var trail = await TrailAsync(registered.HospitalizationCode);

        Assert.Collection(trail,
            r => Assert.Equal(("PATIENT", "NOT_FOUND", "REFERRAL_NOT_FOUND", guess.RequestId), (r.ActorOrganizationId, r.Outcome, r.Reason, r.RequestId)),
            r => Assert.Equal(("PATIENT", "OK", "my IIN is ############", cancel.RequestId), (r.ActorOrganizationId, r.Outcome, r.Reason, r.RequestId)));
        Assert.All(trail, r => Assert.DoesNotContain(iin, r.ToString(), StringComparison.Ordinal));
    }
}

/// <summary>A cancellation takes a lookup from the address's bucket, so it guesses keys no faster than lookups do.</summary>
public sealed class PatientCancellationLimitTests(ShippedLimitsGateway gateway) : IClassFixture<ShippedLimitsGateway>
{
    [Fact]
    public async Task Cancellations_and_lookups_share_the_per_address_limit()
    {
        var registered = await Scenario.RegisterAsync(gateway);
        var code = registered.HospitalizationCode;

        // The burst spent on guessed keys, half cancellations, half lookups.
        for (var i = 0; i < ShippedLimitsGateway.Burst; i++)
        {
            var guess = PatientCancellationTests.WrongKey(registered.AccessKey);
            var error = await Assert.ThrowsAsync<RpcException>(() => i % 2 == 0
                ? gateway.Anonymous.UnaryAsync(Api.PatientCancel, PatientCancellationTests.Request(code, guess))
                : gateway.Anonymous.UnaryAsync(Api.QueueStatus, new GetQueueStatusRequest { HospitalizationCode = code, AccessKey = guess }));
            Assert.Equal(StatusCode.NotFound, error.StatusCode);
        }

        var limited = await Assert.ThrowsAsync<RpcException>(() => gateway.Anonymous.UnaryAsync(Api.PatientCancel, PatientCancellationTests.Request(code, registered.AccessKey)));
        var lookup = await Assert.ThrowsAsync<RpcException>(() => gateway.Anonymous.UnaryAsync(Api.QueueStatus, new GetQueueStatusRequest { HospitalizationCode = code, AccessKey = registered.AccessKey }));
        gateway.Time.Advance(TimeSpan.FromSeconds(1 / ShippedLimitsGateway.PerSecond));
        var cancelled = await gateway.Anonymous.UnaryAsync(Api.PatientCancel, PatientCancellationTests.Request(code, registered.AccessKey));

        Assert.Equal(StatusCode.ResourceExhausted, limited.StatusCode);
        Assert.StartsWith("[RATE_LIMITED]", limited.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(StatusCode.ResourceExhausted, lookup.StatusCode);
        Assert.Equal(ReferralStatus.Cancelled, cancelled.Status.Status);
    }
}
