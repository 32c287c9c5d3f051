using BedBureau.BedGrain.Domain;
using static BedBureau.BedGrain.Tests.TestWorld;

namespace BedBureau.BedGrain.Tests;

public sealed class ReferralLifecycleTests : IAsyncLifetime
{
    private readonly TestWorld _world = new();

    public Task InitializeAsync() => _world.OpenCalendarAsync(CityCardiology, slots: 2);

    public async Task DisposeAsync() => await _world.DisposeAsync();

    private DateOnly Tomorrow => _world.Today.AddDays(1);

    [Fact]
    public async Task Registration_holds_a_slot_and_answers_code_access_key_and_position()
    {
        var result = await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow);

        Assert.Equal(ReferralStatus.Registered, result.View.Referral.Status);
        Assert.Matches(@"^75\.01W9\.101\.[0-9A-Z]+$", result.View.Referral.HospitalizationCode);
        Assert.Matches("^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$", result.AccessKey);
        Assert.Equal(1, result.View.QueuePosition);
        var day = (await _world.Bureau.CallAsync(CityCardiology, Tomorrow, static (g, d) => Task.FromResult(g.CalendarFrom(d)))).First();
        Assert.Equal((2, 1), (day.Slots, day.Reserved));
    }

    [Fact]
    public async Task Codes_are_unique_and_sequential_per_grain()
    {
        var first = await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow);
        var second = await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow);

        Assert.Equal("75.01W9.101.1", first.View.Referral.HospitalizationCode);
        Assert.Equal("75.01W9.101.2", second.View.Referral.HospitalizationCode);
    }

    [Fact]
    public async Task A_full_date_refuses_the_next_registration_with_no_free_slot()
    {
        await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow);
        await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow);

        var error = await Assert.ThrowsAsync<DomainException>(() => _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow));

        Assert.Equal(DomainErrorKind.FailedPrecondition, error.Kind);
        Assert.Equal("NO_FREE_SLOT", error.Reason);
    }

    [Fact]
    public async Task Lowering_slots_below_reservations_keeps_them_reports_over_capacity_and_accepts_no_more()
    {
        var kept = await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow);
        await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow);

        var calendar = await _world.Bureau.SetAdmissionCapacityAsync(CityCardiology, City, "lower", [new(Tomorrow, 1)]);

        var day = calendar.Single(d => d.Date == Tomorrow);
        Assert.True(day.OverCapacity);
        Assert.Equal(2, day.Reserved);
        Assert.Equal(ReferralStatus.Registered, (await _world.Bureau.GetAsync(kept.View.Referral.HospitalizationCode)).Referral.Status);
        var error = await Assert.ThrowsAsync<DomainException>(() => _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow));
        Assert.Equal("NO_FREE_SLOT", error.Reason);
    }

    [Fact]
    public async Task Hospital_schedules_then_admits_and_admission_releases_the_slot()
    {
        var code = (await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow)).View.Referral.HospitalizationCode;

        var scheduled = await _world.Bureau.ScheduleAsync(code, City, "s1", null, "");
        var admitted = await _world.Bureau.AdmitAsync(code, City, "a1", null);

        Assert.Equal(ReferralStatus.Scheduled, scheduled.Referral.Status);
        Assert.Equal(ReferralStatus.Admitted, admitted.Referral.Status);
        Assert.Equal(0, admitted.QueuePosition);
        Assert.Equal(["REGISTERED", "SCHEDULED", "ADMITTED"], admitted.Referral.History.Select(e => e.Action));
        Assert.All(admitted.Referral.History, e => Assert.False(string.IsNullOrEmpty(e.Reason)));
        var day = (await _world.Bureau.CallAsync(CityCardiology, Tomorrow, static (g, d) => Task.FromResult(g.CalendarFrom(d)))).First();
        Assert.Equal(0, day.Reserved);
    }

    [Fact]
    public async Task Scheduling_to_another_date_moves_the_slot_atomically_and_needs_a_reason()
    {
        var code = (await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow)).View.Referral.HospitalizationCode;
        var later = Tomorrow.AddDays(3);

        var noReason = await Assert.ThrowsAsync<DomainException>(() => _world.Bureau.ScheduleAsync(code, City, "s0", later, ""));
        var moved = await _world.Bureau.ScheduleAsync(code, City, "s1", later, "Surgeon on leave");

        Assert.Equal("reason", noReason.Field);
        Assert.Equal(later, moved.Referral.PlannedDate);
        var calendar = await _world.Bureau.CallAsync(CityCardiology, Tomorrow, static (g, d) => Task.FromResult(g.CalendarFrom(d)));
        Assert.Equal(0, calendar.Single(d => d.Date == Tomorrow).Reserved);
        Assert.Equal(1, calendar.Single(d => d.Date == later).Reserved);
    }

    [Fact]
    public async Task Polyclinic_reschedule_to_a_full_date_fails_and_keeps_the_old_slot()
    {
        var later = Tomorrow.AddDays(2);
        await _world.RegisterAsync(CityCardiology, AdultIin(), later);
        await _world.RegisterAsync(CityCardiology, AdultIin(), later);
        var code = (await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow)).View.Referral.HospitalizationCode;

        var error = await Assert.ThrowsAsync<DomainException>(() => _world.Bureau.RescheduleAsync(code, Clinic, "r1", later, "patient asked"));

        Assert.Equal("NO_FREE_SLOT", error.Reason);
        Assert.Equal(Tomorrow, (await _world.Bureau.GetAsync(code)).Referral.PlannedDate);
    }

    [Theory]
    [InlineData(RefusalReason.NoIndications, "")]
    [InlineData(RefusalReason.Contraindications, "")]
    [InlineData(RefusalReason.WrongProfile, "")]
    [InlineData(RefusalReason.IncompleteDocuments, "ECG older than 14 days")]
    [InlineData(RefusalReason.Other, "Patient intoxicated")]
    public async Task Refusal_records_its_coded_reason(RefusalReason reason, string text)
    {
        var code = (await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow)).View.Referral.HospitalizationCode;

        var refused = await _world.Bureau.RefuseAsync(code, City, "f1", reason, text);

        Assert.Equal(ReferralStatus.Refused, refused.Referral.Status);
        Assert.Equal(reason, refused.Referral.RefusalReason);
        Assert.NotNull(refused.Referral.RefusedAt);
    }

    [Fact]
    public async Task Refusal_for_another_reason_requires_its_text()
    {
        var code = (await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow)).View.Referral.HospitalizationCode;

        var error = await Assert.ThrowsAsync<DomainException>(() => _world.Bureau.RefuseAsync(code, City, "f1", RefusalReason.Other, " "));

        Assert.Equal("reason_text", error.Field);
        Assert.Equal(ReferralStatus.Registered, (await _world.Bureau.GetAsync(code)).Referral.Status);
    }

    [Fact]
    public async Task Only_the_referring_polyclinic_cancels()
    {
        var code = (await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow)).View.Referral.HospitalizationCode;

        var denied = await Assert.ThrowsAsync<DomainException>(() => _world.Bureau.CancelAsync(code, OtherClinic, "c1", CancellationReason.PatientRequest, ""));
        var cancelled = await _world.Bureau.CancelAsync(code, Clinic, "c1", CancellationReason.PatientRequest, "");

        Assert.Equal(DomainErrorKind.PermissionDenied, denied.Kind);
        Assert.Equal(ReferralStatus.Cancelled, cancelled.Referral.Status);
    }

    [Fact]
    public async Task Only_the_receiving_hospital_admits()
    {
        var code = (await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow)).View.Referral.HospitalizationCode;

        var error = await Assert.ThrowsAsync<DomainException>(() => _world.Bureau.AdmitAsync(code, new Actor(DistrictHospital, ActorRole.Hospital), "a1", null));

        Assert.Equal(DomainErrorKind.PermissionDenied, error.Kind);
    }

    public static TheoryData<ReferralStatus> NotScheduled => new() { ReferralStatus.Registered, ReferralStatus.Admitted, ReferralStatus.Refused, ReferralStatus.Cancelled, ReferralStatus.NoShow };

    [Theory]
    [MemberData(nameof(NotScheduled))]
    public async Task Only_a_scheduled_referral_is_admitted_else_failed_precondition_and_nothing_changes(ReferralStatus from)
    {
        var code = await ReferralInAsync(from);
        var before = await _world.Bureau.GetAsync(code);
        var version = await _world.Bureau.CallAsync(CityCardiology, 0, static (g, _) => Task.FromResult(g.Version));

        var error = await Assert.ThrowsAsync<DomainException>(() => _world.Bureau.AdmitAsync(code, City, "admit", null));

        Assert.Equal((DomainErrorKind.FailedPrecondition, "INVALID_TRANSITION"), (error.Kind, error.Reason));
        var after = await _world.Bureau.GetAsync(code);
        Assert.Equal(from, after.Referral.Status);
        Assert.Equal((before.Referral.History.Count, before.Referral.UpdatedAt, before.Referral.AdmittedAt, before.QueuePosition), (after.Referral.History.Count, after.Referral.UpdatedAt, after.Referral.AdmittedAt, after.QueuePosition));
        Assert.Equal(version, await _world.Bureau.CallAsync(CityCardiology, 0, static (g, _) => Task.FromResult(g.Version)));
    }

    /// <summary>A referral of the city's cardiology brought to <paramref name="status"/> by the usual path.</summary>
    private async Task<string> ReferralInAsync(ReferralStatus status)
    {
        var code = (await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow)).View.Referral.HospitalizationCode;
        switch (status)
        {
            case ReferralStatus.Admitted:
                await _world.Bureau.ScheduleAsync(code, City, "s", null, "");
                await _world.Bureau.AdmitAsync(code, City, "a", null);
                break;
            case ReferralStatus.Refused:
                await _world.Bureau.RefuseAsync(code, City, "f", RefusalReason.Contraindications, "");
                break;
            case ReferralStatus.Cancelled:
                await _world.Bureau.CancelAsync(code, Clinic, "c", CancellationReason.PatientRequest, "");
                break;
            case ReferralStatus.NoShow:
                _world.Time.Advance(TimeSpan.FromDays(4));
                break;
        }

        Assert.Equal(status, (await _world.Bureau.GetAsync(code)).Referral.Status);
        return code;
    }

    public static TheoryData<string> TerminalThenAnything => new() { "admit", "refuse", "cancel", "schedule", "reschedule" };

    [Theory]
    [MemberData(nameof(TerminalThenAnything))]
    public async Task Every_transition_out_of_a_terminal_state_is_a_failed_precondition(string operation)
    {
        var code = (await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow)).View.Referral.HospitalizationCode;
        await _world.Bureau.CancelAsync(code, Clinic, "c1", CancellationReason.HealthImproved, "");

        Task act() => operation switch
        {
            "admit" => _world.Bureau.AdmitAsync(code, City, "x", null),
            "refuse" => _world.Bureau.RefuseAsync(code, City, "x", RefusalReason.NoIndications, ""),
            "cancel" => _world.Bureau.CancelAsync(code, Clinic, "x", CancellationReason.PatientRequest, ""),
            "schedule" => _world.Bureau.ScheduleAsync(code, City, "x", null, ""),
            _ => _world.Bureau.RescheduleAsync(code, Clinic, "x", Tomorrow.AddDays(1), "x"),
        };
        var error = await Assert.ThrowsAsync<DomainException>(act);

        Assert.Equal(DomainErrorKind.FailedPrecondition, error.Kind);
        Assert.Equal("INVALID_TRANSITION", error.Reason);
    }

    [Fact]
    public async Task A_referral_not_admitted_two_days_after_its_date_becomes_no_show_and_frees_the_slot()
    {
        var code = (await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow)).View.Referral.HospitalizationCode;

        _world.Time.Advance(TimeSpan.FromDays(3));
        var stillActive = await _world.Bureau.GetAsync(code);
        _world.Time.Advance(TimeSpan.FromDays(1));
        var expired = await _world.Bureau.GetAsync(code);

        Assert.Equal(ReferralStatus.Registered, stillActive.Referral.Status);
        Assert.Equal(ReferralStatus.NoShow, expired.Referral.Status);
        Assert.Equal("bureau", expired.Referral.History[^1].ActorOrganizationId);
        Assert.Equal(ReferralStatus.NoShow, ((Storage.InMemoryBedGrainStorage)_world.Storage).StoredReferral(CityCardiology, code)!.Status);
    }

    [Fact]
    public async Task No_show_is_set_by_the_grain_timer_without_any_call()
    {
        var code = (await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow)).View.Referral.HospitalizationCode;
        var storage = (Storage.InMemoryBedGrainStorage)_world.Storage;

        _world.Time.Advance(TimeSpan.FromDays(4));

        await WaitUntil(() => storage.StoredReferral(CityCardiology, code)!.Status == ReferralStatus.NoShow);
    }

    [Fact]
    public async Task Registered_referral_is_overdue_after_two_working_days_without_scheduling()
    {
        // Registered on Monday: due at the end of Wednesday.
        var code = (await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow.AddDays(5))).View.Referral.HospitalizationCode;

        _world.Time.Advance(TimeSpan.FromDays(2));
        var onWednesday = await _world.Bureau.GetAsync(code);
        _world.Time.Advance(TimeSpan.FromDays(1));
        var onThursday = await _world.Bureau.GetAsync(code);

        Assert.False(onWednesday.ScheduleOverdue);
        Assert.True(onThursday.ScheduleOverdue);
    }

    [Fact]
    public async Task The_scheduling_deadline_skips_a_configured_day_off()
    {
        // Registered on Monday with Tuesday a day off: due at the end of Thursday.
        await using var world = new TestWorld(calendar: new WorkingDayCalendar([new DateOnly(2026, 11, 3)]));
        await world.OpenCalendarAsync(CityCardiology, slots: 1);

        var registered = await world.RegisterAsync(CityCardiology, AdultIin(), world.Today.AddDays(7));
        world.Time.Advance(TimeSpan.FromDays(3));
        var onThursday = await world.Bureau.GetAsync(registered.View.Referral.HospitalizationCode);

        Assert.Equal(new DateTimeOffset(2026, 11, 6, 0, 0, 0, WorkingDayCalendar.KazakhstanOffset), registered.View.Referral.ScheduleDueAt);
        Assert.False(onThursday.ScheduleOverdue);
    }

    [Fact]
    public async Task Queue_orders_by_planned_date_then_registration()
    {
        var late = await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow.AddDays(1));
        var early1 = await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow);
        var early2 = await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow);

        Assert.Equal(1, (await _world.Bureau.GetAsync(early1.View.Referral.HospitalizationCode)).QueuePosition);
        Assert.Equal(2, (await _world.Bureau.GetAsync(early2.View.Referral.HospitalizationCode)).QueuePosition);
        var last = await _world.Bureau.GetAsync(late.View.Referral.HospitalizationCode);
        Assert.Equal((3, 2), (last.QueuePosition, last.PeopleAhead));

        await _world.Bureau.CancelAsync(early1.View.Referral.HospitalizationCode, Clinic, "c", CancellationReason.PatientRequest, "");
        Assert.Equal(2, (await _world.Bureau.GetAsync(late.View.Referral.HospitalizationCode)).QueuePosition);
    }

    [Fact]
    public async Task Patient_view_needs_the_access_key_and_a_wrong_key_looks_like_an_unknown_code()
    {
        var result = await _world.RegisterAsync(CityCardiology, AdultIin(), Tomorrow);
        var code = result.View.Referral.HospitalizationCode;

        var seen = await _world.Bureau.GetForPatientAsync(code, result.AccessKey.ToLowerInvariant().Replace("-", "", StringComparison.Ordinal));
        var wrongKey = await Assert.ThrowsAsync<DomainException>(() => _world.Bureau.GetForPatientAsync(code, "AAAAA-AAAAA"));
        var unknown = await Assert.ThrowsAsync<DomainException>(() => _world.Bureau.GetForPatientAsync("75.01W9.101.ZZZ", "AAAAA-AAAAA"));

        Assert.Equal(code, seen.Referral.HospitalizationCode);
        Assert.Equal((wrongKey.Kind, wrongKey.Message), (unknown.Kind, unknown.Message));
    }
}
