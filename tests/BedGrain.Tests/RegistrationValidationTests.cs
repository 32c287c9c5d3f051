using BedBureau.BedGrain.Domain;
using static BedBureau.BedGrain.Tests.TestWorld;

namespace BedBureau.BedGrain.Tests;

public sealed class RegistrationValidationTests : IAsyncLifetime
{
    private readonly TestWorld _world = new();

    public async Task InitializeAsync()
    {
        await _world.OpenCalendarAsync(CityCardiology, slots: 5);
        await _world.OpenCalendarAsync(new(CityHospital, Paediatrics), slots: 5);
        await _world.OpenCalendarAsync(new(DistrictHospital, Cardiology), slots: 5);
    }

    public async Task DisposeAsync() => await _world.DisposeAsync();

    private DateOnly Tomorrow => _world.Today.AddDays(1);

    private async Task<DomainException> RegisterFails(RegisterReferral command, BedGrainKey? key = null)
    {
        var error = await Assert.ThrowsAsync<DomainException>(() => _world.Bureau.RegisterAsync(key ?? CityCardiology, command));
        var day = (await _world.Bureau.CallAsync(key ?? CityCardiology, Tomorrow, static (g, d) => Task.FromResult(g.CalendarFrom(d)))).First();
        Assert.Equal(0, day.Reserved); // nothing changed
        return error;
    }

    private RegisterReferral Command(string? iin = null, string icd10 = "I20.8", DateOnly? planned = null, string region = "75") =>
        new(_world.NextRequestId(), Clinic, iin ?? AdultIin(), icd10, planned ?? Tomorrow, TreatmentPurpose.Surgical, FinanceSource.SocialInsurance, "Almaty", region);

    [Theory]
    [InlineData("", "REQUIRED")]
    [InlineData("12345", "INVALID_IIN")]
    [InlineData("70051730000A", "INVALID_IIN")]
    [InlineData("701317300001", "INVALID_IIN")]
    public async Task Malformed_iin_is_invalid_and_names_the_field(string iin, string reason)
    {
        var error = await RegisterFails(Command(iin: iin));

        Assert.Equal(("patient_iin", reason), (error.Field, error.Reason));
        Assert.DoesNotContain(iin.Length > 6 ? iin : "never", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Iin_with_a_wrong_check_digit_is_invalid()
    {
        var valid = AdultIin();
        var wrong = valid[..11] + (char)('0' + (valid[11] - '0' + 1) % 10);

        var error = await RegisterFails(Command(iin: wrong));

        Assert.Equal("INVALID_IIN", error.Reason);
    }

    [Fact]
    public async Task Child_cannot_take_an_adult_bed_nor_an_adult_a_child_bed()
    {
        var childInAdult = await RegisterFails(Command(iin: ChildIin()));
        var adultInChild = await RegisterFails(Command(iin: AdultIin()), new(CityHospital, Paediatrics));

        Assert.Equal(("bed_profile_code", "AGE_MISMATCH"), (childInAdult.Field, childInAdult.Reason));
        Assert.Equal("AGE_MISMATCH", adultInChild.Reason);
    }

    [Fact]
    public async Task Age_is_judged_on_the_planned_date()
    {
        // Turns 18 the day after tomorrow: a child tomorrow, an adult after.
        var iin = Iin(_world.Today.AddDays(2).AddYears(-18));

        var asChild = await _world.Bureau.RegisterAsync(new(CityHospital, Paediatrics), Command(iin: iin));
        var error = await RegisterFails(Command(iin: iin));

        Assert.Equal(ReferralStatus.Registered, asChild.View.Referral.Status);
        Assert.Equal("AGE_MISMATCH", error.Reason);
    }

    [Theory]
    [InlineData("schedule")]
    [InlineData("reschedule")]
    public async Task Age_is_judged_again_when_the_planned_date_moves(string by)
    {
        // Turns 18 in three days: a child bed tomorrow, an adult one from then; and the reverse.
        var iin = Iin(_world.Today.AddDays(3).AddYears(-18));
        var child = (await _world.Bureau.RegisterAsync(new(CityHospital, Paediatrics), Command(iin: iin))).View.Referral.HospitalizationCode;
        var adult = (await _world.Bureau.RegisterAsync(CityCardiology, Command(iin: iin, planned: Tomorrow.AddDays(3)))).View.Referral.HospitalizationCode;

        var tooOld = await MoveFails(by, child, Tomorrow.AddDays(3));
        var tooYoung = await MoveFails(by, adult, Tomorrow);

        Assert.Equal(("planned_date", "AGE_MISMATCH"), (tooOld.Field, tooOld.Reason));
        Assert.Contains("the patient is 18 on", tooOld.Message, StringComparison.Ordinal);
        Assert.Equal(("planned_date", "AGE_MISMATCH"), (tooYoung.Field, tooYoung.Reason));
        Assert.Contains("the patient is 17 on", tooYoung.Message, StringComparison.Ordinal);
        Assert.Equal((Tomorrow, ReferralStatus.Registered), await PlannedAsync(child));
        Assert.Equal((Tomorrow.AddDays(3), ReferralStatus.Registered), await PlannedAsync(adult));

        // Within the age group the date moves.
        Assert.Equal(Tomorrow.AddDays(1), (await Move(by, child, Tomorrow.AddDays(1))).Referral.PlannedDate);
    }

    [Theory]
    [InlineData("schedule")]
    [InlineData("reschedule")]
    public async Task A_date_moved_before_the_birth_date_is_refused(string by)
    {
        var iin = Iin(_world.Today.AddDays(3));
        var code = (await _world.Bureau.RegisterAsync(new(CityHospital, Paediatrics), Command(iin: iin, planned: Tomorrow.AddDays(4)))).View.Referral.HospitalizationCode;

        var error = await MoveFails(by, code, Tomorrow);

        Assert.Equal(("planned_date", "NOT_BORN"), (error.Field, error.Reason));
        Assert.Equal((Tomorrow.AddDays(4), ReferralStatus.Registered), await PlannedAsync(code));
    }

    private Task<ReferralView> Move(string by, string code, DateOnly date) =>
        by == "schedule"
            ? _world.Bureau.ScheduleAsync(code, City, _world.NextRequestId(), date, "Surgeon on leave")
            : _world.Bureau.RescheduleAsync(code, Clinic, _world.NextRequestId(), date, "Patient asked");

    private async Task<DomainException> MoveFails(string by, string code, DateOnly date)
    {
        var reservedBefore = await ReservedAsync(code, date);
        var error = await Assert.ThrowsAsync<DomainException>(() => Move(by, code, date));
        Assert.Equal(reservedBefore, await ReservedAsync(code, date)); // the slot did not move
        return error;
    }

    private async Task<int> ReservedAsync(string code, DateOnly date) =>
        (await _world.Bureau.CallByCodeAsync(code, date, static (g, d) => Task.FromResult(g.CalendarFrom(d)))).Single(day => day.Date == date).Reserved;

    private async Task<(DateOnly, ReferralStatus)> PlannedAsync(string code)
    {
        var referral = (await _world.Bureau.GetAsync(code)).Referral;
        return (referral.PlannedDate, referral.Status);
    }

    [Theory]
    [InlineData("")]
    [InlineData("I2")]
    [InlineData("120.8")]
    [InlineData("I20.888")]
    [InlineData("I20-8")]
    public async Task Malformed_icd10_is_invalid(string icd10)
    {
        var error = await RegisterFails(Command(icd10: icd10));

        Assert.Equal("icd10_code", error.Field);
    }

    [Theory]
    [InlineData("C50")]
    [InlineData("s72.00")]
    [InlineData("I20.8")]
    public async Task Well_formed_icd10_is_accepted_in_upper_case(string icd10)
    {
        var result = await _world.Bureau.RegisterAsync(CityCardiology, Command(icd10: icd10));

        Assert.Equal(icd10.ToUpperInvariant(), result.View.Referral.Icd10Code);
    }

    [Fact]
    public async Task Planned_date_in_the_past_or_outside_the_calendar_is_invalid()
    {
        var past = await RegisterFails(Command(planned: _world.Today.AddDays(-1)));
        var beyond = await RegisterFails(Command(planned: _world.Today.AddDays(45)));

        Assert.Equal(("planned_date", "IN_PAST"), (past.Field, past.Reason));
        Assert.Equal(("planned_date", "OUTSIDE_CALENDAR"), (beyond.Field, beyond.Reason));
    }

    [Fact]
    public async Task Unknown_hospital_or_profile_not_offered_is_not_found_naming_the_field()
    {
        var unknown = await Assert.ThrowsAsync<DomainException>(() => _world.Bureau.RegisterAsync(new("ZZZZ", Cardiology), Command()));
        var unknownProfile = await Assert.ThrowsAsync<DomainException>(() => _world.Bureau.RegisterAsync(new(CityHospital, "998"), Command()));
        var notOffered = await Assert.ThrowsAsync<DomainException>(() => _world.Bureau.RegisterAsync(new(DistrictHospital, Paediatrics), Command()));
        var noReferral = await Assert.ThrowsAsync<DomainException>(() => _world.Bureau.GetAsync(HospitalizationCodes.Format("75", CityCardiology, 999)));

        Assert.Equal((DomainErrorKind.NotFound, "UNKNOWN_HOSPITAL", "hospital_id"), (unknown.Kind, unknown.Reason, unknown.Field));
        Assert.Equal((DomainErrorKind.NotFound, "UNKNOWN_PROFILE", "bed_profile_code"), (unknownProfile.Kind, unknownProfile.Reason, unknownProfile.Field));
        Assert.Equal((DomainErrorKind.NotFound, "PROFILE_NOT_OFFERED", "bed_profile_code"), (notOffered.Kind, notOffered.Reason, notOffered.Field));
        Assert.Equal((DomainErrorKind.NotFound, "REFERRAL_NOT_FOUND", "hospitalization_code"), (noReferral.Kind, noReferral.Reason, noReferral.Field));
        Assert.All([unknown, unknownProfile, notOffered, noReferral], e => Assert.StartsWith($"{e.Field}: ", e.Message, StringComparison.Ordinal));
    }

    [Fact]
    public async Task One_patient_holds_one_active_referral_per_profile_across_hospitals()
    {
        var iin = AdultIin();
        var first = await _world.Bureau.RegisterAsync(CityCardiology, Command(iin: iin));

        var ownPolyclinic = await Assert.ThrowsAsync<DomainException>(() => _world.Bureau.RegisterAsync(new(DistrictHospital, Cardiology), Command(iin: iin)));
        var otherPolyclinic = await Assert.ThrowsAsync<DomainException>(() =>
            _world.Bureau.RegisterAsync(new(DistrictHospital, Cardiology), Command(iin: iin) with { Actor = OtherClinic }));

        var code = first.View.Referral.HospitalizationCode;
        Assert.Equal((DomainErrorKind.AlreadyExists, "patient_iin"), (ownPolyclinic.Kind, ownPolyclinic.Field));
        Assert.Contains(code, ownPolyclinic.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(code, otherPolyclinic.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task After_the_referral_ends_the_patient_may_be_referred_again()
    {
        var iin = AdultIin();
        var first = await _world.Bureau.RegisterAsync(CityCardiology, Command(iin: iin));
        await _world.Bureau.CancelAsync(first.View.Referral.HospitalizationCode, Clinic, "c", CancellationReason.RegisteredInError, "");

        var second = await _world.Bureau.RegisterAsync(new(DistrictHospital, Cardiology), Command(iin: iin));

        Assert.Equal(ReferralStatus.Registered, second.View.Referral.Status);
    }

    [Fact]
    public async Task A_repeated_request_id_returns_the_first_result_and_changes_nothing()
    {
        var command = Command();

        var first = await _world.Bureau.RegisterAsync(CityCardiology, command);
        var again = await _world.Bureau.RegisterAsync(CityCardiology, command);

        Assert.Equal(first.View.Referral.HospitalizationCode, again.View.Referral.HospitalizationCode);
        Assert.Equal(first.AccessKey, again.AccessKey);
        var day = (await _world.Bureau.CallAsync(CityCardiology, Tomorrow, static (g, d) => Task.FromResult(g.CalendarFrom(d)))).First();
        Assert.Equal(1, day.Reserved);
    }

    [Fact]
    public async Task A_request_id_reused_for_another_referral_is_invalid_and_changes_neither()
    {
        var first = (await _world.Bureau.RegisterAsync(CityCardiology, Command())).View.Referral.HospitalizationCode;
        var second = (await _world.Bureau.RegisterAsync(CityCardiology, Command())).View.Referral.HospitalizationCode;
        await _world.Bureau.CancelAsync(first, Clinic, "cancel-1", CancellationReason.PatientRequest, "");

        var error = await Assert.ThrowsAsync<DomainException>(() => _world.Bureau.CancelAsync(second, Clinic, "cancel-1", CancellationReason.PatientRequest, ""));

        Assert.Equal(("request_id", "REUSED"), (error.Field, error.Reason));
        Assert.Equal(ReferralStatus.Registered, (await _world.Bureau.GetAsync(second)).Referral.Status);
    }

    [Fact]
    public async Task A_request_id_reused_for_another_operation_is_invalid()
    {
        var command = Command();
        var code = (await _world.Bureau.RegisterAsync(CityCardiology, command)).View.Referral.HospitalizationCode;

        var error = await Assert.ThrowsAsync<DomainException>(() => _world.Bureau.CancelAsync(code, Clinic, command.RequestId, CancellationReason.PatientRequest, ""));

        Assert.Equal(("request_id", "REUSED"), (error.Field, error.Reason));
    }

    [Fact]
    public async Task Only_polyclinics_register()
    {
        var error = await Assert.ThrowsAsync<DomainException>(() => _world.Bureau.RegisterAsync(CityCardiology, Command() with { Actor = City }));

        Assert.Equal(DomainErrorKind.PermissionDenied, error.Kind);
    }

    [Theory]
    [InlineData(-1, 0, 0, "total")]
    [InlineData(10, 11, 0, "occupied")]
    [InlineData(10, 5, 6, "free")]
    public async Task Bed_report_out_of_range_names_the_field(int total, int occupied, int free, string field)
    {
        var error = await Assert.ThrowsAsync<DomainException>(() =>
            _world.Bureau.ReportBedsAsync(CityCardiology, City, "b1", new BedReport(total, occupied, free, 0, 0, null)));

        Assert.Equal(field, error.Field);
        Assert.Null(await _world.Bureau.CallAsync(CityCardiology, 0, static (g, _) => Task.FromResult(g.Census)));
    }

    [Fact]
    public async Task Bed_census_is_stale_after_a_day()
    {
        var census = await _world.Bureau.ReportBedsAsync(CityCardiology, City, "b1", new BedReport(40, 30, 8, 4, 4, null));

        Assert.False(census.IsStale(_world.Time.GetUtcNow(), _world.Bureau.Options.StaleAfter));
        _world.Time.Advance(TimeSpan.FromHours(25));
        Assert.True(census.IsStale(_world.Time.GetUtcNow(), _world.Bureau.Options.StaleAfter));
    }

    [Fact]
    public async Task An_older_bed_report_is_refused_and_changes_nothing()
    {
        var at = _world.Time.GetUtcNow();
        await _world.Bureau.ReportBedsAsync(CityCardiology, City, "b1", new BedReport(40, 30, 8, 0, 0, at - TimeSpan.FromHours(1)));
        var seen = _world.Bureau.FreeBeds.Search(new FreeBedQuery(Cardiology, null, Tomorrow, Tomorrow, null, 10)).Single(o => o.Hospital.Id == CityHospital).Census;

        var error = await Assert.ThrowsAsync<DomainException>(() =>
            _world.Bureau.ReportBedsAsync(CityCardiology, City, "b2", new BedReport(40, 20, 18, 0, 0, at - TimeSpan.FromHours(2))));

        Assert.Equal((DomainErrorKind.FailedPrecondition, "STALE_REPORT"), (error.Kind, error.Reason));
        Assert.Contains($"{(at - TimeSpan.FromHours(1)).ToOffset(WorkingDayCalendar.KazakhstanOffset):O}", error.Message, StringComparison.Ordinal);
        var census = await _world.Bureau.CallAsync(CityCardiology, 0, static (g, _) => Task.FromResult(g.Census));
        Assert.Equal((30, 8, at - TimeSpan.FromHours(1)), (census!.Occupied, census.Free, census.ReportedAt));
        Assert.Equal(seen, _world.Bureau.FreeBeds.Search(new FreeBedQuery(Cardiology, null, Tomorrow, Tomorrow, null, 10)).Single(o => o.Hospital.Id == CityHospital).Census);
    }

    [Fact]
    public async Task A_report_of_the_same_time_or_without_one_replaces_the_stored_counts()
    {
        // A hospital re-sending the same export after the request id was forgotten; a report
        // without a time after one stamped by a clock running a little ahead.
        var at = _world.Time.GetUtcNow();
        await _world.Bureau.ReportBedsAsync(CityCardiology, City, "b1", new BedReport(40, 30, 8, 0, 0, at));
        var again = await _world.Bureau.ReportBedsAsync(CityCardiology, City, "b2", new BedReport(40, 31, 7, 0, 0, at));
        await _world.Bureau.ReportBedsAsync(CityCardiology, City, "b3", new BedReport(40, 32, 6, 0, 0, at + TimeSpan.FromMinutes(4)));
        var untimed = await _world.Bureau.ReportBedsAsync(CityCardiology, City, "b4", new BedReport(40, 33, 5, 0, 0, null));

        Assert.Equal((31, at), (again.Occupied, again.ReportedAt));
        Assert.Equal((33, at), (untimed.Occupied, untimed.ReportedAt));
    }
}
