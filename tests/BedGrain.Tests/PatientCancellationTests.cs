using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Storage;
using static BedBureau.BedGrain.Tests.TestWorld;

namespace BedBureau.BedGrain.Tests;

/// <summary>A patient cancels their own referral with the coupon's code and access key.</summary>
public sealed class PatientCancellationTests : IAsyncLifetime
{
    private readonly TestWorld _world = new();

    public Task InitializeAsync() => _world.OpenCalendarAsync(CityCardiology, slots: 1);

    public async Task DisposeAsync() => await _world.DisposeAsync();

    private DateOnly Tomorrow => _world.Today.AddDays(1);

    private InMemoryBedGrainStorage Storage => (InMemoryBedGrainStorage)_world.Storage;

    private IReadOnlyList<ReferralEvent> EventsOf(string code) => Storage.EventsOf(CityCardiology).Where(e => e.HospitalizationCode == code).ToArray();

    [Fact]
    public async Task The_patient_cancels_with_the_coupon_the_slot_is_freed_and_the_event_names_the_patient_actor_and_the_reason()
    {
        var registered = await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow);
        var code = registered.View.Referral.HospitalizationCode;
        var full = await Assert.ThrowsAsync<DomainException>(() => _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow));

        var cancelled = await _world.Bureau.CancelByPatientAsync(code, registered.AccessKey, "p1", CancellationReason.HospitalizedElsewhere, "");
        var next = await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow);

        Assert.Equal("NO_FREE_SLOT", full.Reason);
        Assert.Equal((ReferralStatus.Cancelled, CancellationReason.HospitalizedElsewhere, 0), (cancelled.Referral.Status, cancelled.Referral.CancellationReason, cancelled.QueuePosition));
        Assert.Equal(ReferralStatus.Registered, next.View.Referral.Status);
        var last = EventsOf(code)[^1];
        Assert.Equal(("CANCELLED", ReferralStatus.Cancelled, "PATIENT", "Cancelled by the patient: HospitalizedElsewhere"), (last.Action, last.Status, last.ActorOrganizationId, last.Reason));
        Assert.Equal(ReferralStatus.Cancelled, Storage.StoredReferral(CityCardiology, code)!.Status);
        Assert.Equal(last, (await _world.Bureau.GetAsync(code)).Referral.History[^1]);
    }

    [Fact]
    public async Task The_patients_text_is_the_events_reason()
    {
        var registered = await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow);

        var cancelled = await _world.Bureau.CancelByPatientAsync(registered.View.Referral.HospitalizationCode, registered.AccessKey, "p1", CancellationReason.Other, "  Moving abroad  ");

        Assert.Equal((CancellationReason.Other, "Moving abroad"), (cancelled.Referral.CancellationReason, cancelled.Referral.History[^1].Reason));
    }

    [Fact]
    public async Task A_scheduled_referral_may_be_cancelled_by_the_patient_too()
    {
        var registered = await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow);
        var code = registered.View.Referral.HospitalizationCode;
        await _world.Bureau.ScheduleAsync(code, City, "s1", null, "");

        var cancelled = await _world.Bureau.CancelByPatientAsync(code, registered.AccessKey, "p1", CancellationReason.HealthImproved, "");

        Assert.Equal(ReferralStatus.Cancelled, cancelled.Referral.Status);
        Assert.Equal(["REGISTERED", "SCHEDULED", "CANCELLED"], cancelled.Referral.History.Select(e => e.Action));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_patients_hold_on_the_profile_is_released(bool durableRule)
    {
        await using var world = new TestWorld(patients: durableRule ? new InMemoryPatientGrainStorage() : null);
        await world.OpenCalendarAsync(CityCardiology, slots: 5);
        var iin = AdultIin();
        var first = await world.RegisterAsync(CityCardiology, iin, world.Today.AddDays(1));
        var held = await Assert.ThrowsAsync<DomainException>(() => world.RegisterAsync(CityCardiology, iin, world.Today.AddDays(2)));

        await world.Bureau.CancelByPatientAsync(first.View.Referral.HospitalizationCode, first.AccessKey, "p1", CancellationReason.PatientRequest, "");
        var again = await world.RegisterAsync(CityCardiology, iin, world.Today.AddDays(2));

        Assert.Equal(DomainErrorKind.AlreadyExists, held.Kind);
        Assert.Equal(ReferralStatus.Registered, again.View.Referral.Status);
    }

    [Fact]
    public async Task A_wrong_key_answers_as_an_unknown_code_does_and_changes_nothing()
    {
        var registered = await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow);
        var code = registered.View.Referral.HospitalizationCode;
        var commits = Storage.CommitCount;

        var wrongKey = await Assert.ThrowsAsync<DomainException>(() => _world.Bureau.CancelByPatientAsync(code, "AAAAA-AAAAA", "p1", CancellationReason.PatientRequest, ""));
        var unknown = await Assert.ThrowsAsync<DomainException>(() => _world.Bureau.CancelByPatientAsync("75.01W9.101.ZZZ", registered.AccessKey, "p2", CancellationReason.PatientRequest, ""));

        Assert.Equal((DomainErrorKind.NotFound, "REFERRAL_NOT_FOUND"), (wrongKey.Kind, wrongKey.Reason));
        Assert.Equal((wrongKey.Kind, wrongKey.Reason, wrongKey.Message), (unknown.Kind, unknown.Reason, unknown.Message));
        Assert.Equal(commits, Storage.CommitCount);
        Assert.Equal(ReferralStatus.Registered, (await _world.Bureau.GetAsync(code)).Referral.Status);

        // The failed attempt did not take the request id.
        var cancelled = await _world.Bureau.CancelByPatientAsync(code, registered.AccessKey, "p1", CancellationReason.PatientRequest, "");
        Assert.Equal(ReferralStatus.Cancelled, cancelled.Referral.Status);
    }

    public static TheoryData<string> Terminal => new() { "admitted", "refused", "cancelled by the polyclinic", "cancelled by the patient", "no-show" };

    [Theory]
    [MemberData(nameof(Terminal))]
    public async Task A_terminal_referral_is_a_failed_precondition(string how)
    {
        var registered = await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow);
        var code = registered.View.Referral.HospitalizationCode;
        switch (how)
        {
            case "admitted":
                await _world.Bureau.ScheduleAsync(code, City, "s1", null, "");
                await _world.Bureau.AdmitAsync(code, City, "a1", null);
                break;
            case "refused":
                await _world.Bureau.RefuseAsync(code, City, "f1", RefusalReason.NoIndications, "");
                break;
            case "cancelled by the polyclinic":
                await _world.Bureau.CancelAsync(code, Clinic, "c1", CancellationReason.RegisteredInError, "");
                break;
            case "cancelled by the patient":
                await _world.Bureau.CancelByPatientAsync(code, registered.AccessKey, "p0", CancellationReason.PatientRequest, "");
                break;
            default:
                _world.Time.Advance(TimeSpan.FromDays(4));
                break;
        }

        var before = await _world.Bureau.GetAsync(code);
        var commits = Storage.CommitCount;

        var error = await Assert.ThrowsAsync<DomainException>(() => _world.Bureau.CancelByPatientAsync(code, registered.AccessKey, "p1", CancellationReason.PatientRequest, ""));

        Assert.Equal((DomainErrorKind.FailedPrecondition, "INVALID_TRANSITION"), (error.Kind, error.Reason));
        Assert.Equal(commits, Storage.CommitCount);
        Assert.Equal(before.Referral.History.Count, (await _world.Bureau.GetAsync(code)).Referral.History.Count);
    }

    [Theory]
    [InlineData(CancellationReason.None, "", "p1", "reason")]
    [InlineData(CancellationReason.Other, "  ", "p1", "reason_text")]
    [InlineData(CancellationReason.PatientRequest, "", "", "request_id")]
    public async Task A_missing_reason_text_or_request_id_is_an_invalid_argument_naming_the_field(CancellationReason reason, string text, string requestId, string field)
    {
        var registered = await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow);
        var code = registered.View.Referral.HospitalizationCode;

        var error = await Assert.ThrowsAsync<DomainException>(() => _world.Bureau.CancelByPatientAsync(code, registered.AccessKey, requestId, reason, text));

        Assert.Equal((DomainErrorKind.InvalidArgument, field, "REQUIRED"), (error.Kind, error.Field, error.Reason));
        Assert.StartsWith($"{field}: ", error.Message, StringComparison.Ordinal);
        Assert.Equal(ReferralStatus.Registered, (await _world.Bureau.GetAsync(code)).Referral.Status);
    }

    [Fact]
    public async Task Repeating_a_request_id_answers_the_first_result_and_records_one_event()
    {
        var registered = await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow);
        var code = registered.View.Referral.HospitalizationCode;

        var first = await _world.Bureau.CancelByPatientAsync(code, registered.AccessKey, "p1", CancellationReason.HealthImproved, "");
        var commits = Storage.CommitCount;
        var again = await _world.Bureau.CancelByPatientAsync(code, registered.AccessKey, "p1", CancellationReason.HealthImproved, "");

        Assert.Equal((first.Referral.Status, first.Referral.CancellationReason, first.Referral.UpdatedAt), (again.Referral.Status, again.Referral.CancellationReason, again.Referral.UpdatedAt));
        Assert.Equal(first.Referral.History, again.Referral.History);
        Assert.Equal(commits, Storage.CommitCount);
        Assert.Single(EventsOf(code), e => e.Action == "CANCELLED");
    }

    [Fact]
    public async Task A_repeated_request_id_still_needs_the_right_key()
    {
        var registered = await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow);
        var code = registered.View.Referral.HospitalizationCode;
        await _world.Bureau.CancelByPatientAsync(code, registered.AccessKey, "p1", CancellationReason.PatientRequest, "");

        var error = await Assert.ThrowsAsync<DomainException>(() => _world.Bureau.CancelByPatientAsync(code, "AAAAA-AAAAA", "p1", CancellationReason.PatientRequest, ""));

        Assert.Equal(DomainErrorKind.NotFound, error.Kind);
    }

    [Fact]
    public async Task A_request_id_another_patient_used_is_refused_without_answering_their_referral()
    {
        await using var world = new TestWorld();
        await world.OpenCalendarAsync(CityCardiology, slots: 5);
        var mine = await world.RegisterAsync(CityCardiology, AdultIin(), world.Today.AddDays(1));
        var theirs = await world.RegisterAsync(CityCardiology, AdultIin(), world.Today.AddDays(1));
        await world.Bureau.CancelByPatientAsync(theirs.View.Referral.HospitalizationCode, theirs.AccessKey, "same-id", CancellationReason.PatientRequest, "");

        var error = await Assert.ThrowsAsync<DomainException>(() =>
            world.Bureau.CancelByPatientAsync(mine.View.Referral.HospitalizationCode, mine.AccessKey, "same-id", CancellationReason.PatientRequest, ""));

        Assert.Equal((DomainErrorKind.InvalidArgument, "request_id", "REUSED"), (error.Kind, error.Field, error.Reason));
        Assert.DoesNotContain(theirs.View.Referral.HospitalizationCode, error.Message, StringComparison.Ordinal);
        Assert.Equal(ReferralStatus.Registered, (await world.Bureau.GetAsync(mine.View.Referral.HospitalizationCode)).Referral.Status);
    }

    [Fact]
    public async Task The_polyclinics_path_stays_the_referring_polyclinics_only()
    {
        var registered = await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow);

        var error = await Assert.ThrowsAsync<DomainException>(() =>
            _world.Bureau.CancelAsync(registered.View.Referral.HospitalizationCode, Actor.Patient, "c1", CancellationReason.PatientRequest, ""));

        Assert.Equal((DomainErrorKind.PermissionDenied, "NOT_REFERRING_POLYCLINIC"), (error.Kind, error.Reason));
    }
}
