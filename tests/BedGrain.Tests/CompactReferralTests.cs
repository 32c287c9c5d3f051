using System.Text.Json;
using BedBureau.BedGrain.Domain;
using static BedBureau.BedGrain.Tests.TestWorld;

namespace BedBureau.BedGrain.Tests;

/// <summary>A grain keeps its referrals compact; what it gives back must be the referral it was given.</summary>
public class CompactReferralTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 2, 4, 0, 0, TimeSpan.Zero);
    private static readonly DateOnly Day = new(2026, 11, 4);

    private static Referral AsRegistered(long eventSequence = 7) => new()
    {
        HospitalizationCode = "75.CITY.101.3",
        AccessKeyHash = AccessKeys.Hash("K7Q4M-9XD2F"),
        Status = ReferralStatus.Registered,
        HospitalId = CityHospital,
        ProfileCode = Cardiology,
        ReferringOrganizationId = Polyclinic,
        PatientKey = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
        ProtectedPatientIin = "cHJvdGVjdGVk",
        Icd10Code = "I20.8",
        Purpose = TreatmentPurpose.Surgical,
        FinanceSource = FinanceSource.SocialInsurance,
        PatientLocality = "Алматы",
        PatientRegionCode = "75",
        PlannedDate = Day,
        RegistrationSequence = 3,
        RegisteredAt = At,
        ScheduleDueAt = new DateTimeOffset(2026, 11, 4, 23, 59, 59, TimeSpan.FromHours(5)),
        StatusReason = CompactReferral.RegistrationReason,
        UpdatedAt = At,
        History = [new ReferralEvent(eventSequence, "75.CITY.101.3", "REGISTERED", ReferralStatus.Registered, CompactReferral.RegistrationReason, Polyclinic, At, Day)],
    };

    /// <summary>Equal as records (hash and history by content) and as stored (JSON, instants with their offsets).</summary>
    private static void AssertSameReferral(Referral expected, Referral actual)
    {
        Assert.Equal(expected with { AccessKeyHash = [], History = [] }, actual with { AccessKeyHash = [], History = [] });
        Assert.Equal(expected.AccessKeyHash, actual.AccessKeyHash);
        Assert.Equal(expected.History, actual.History);
        Assert.Equal(JsonSerializer.Serialize(expected), JsonSerializer.Serialize(actual));
    }

    [Fact]
    public void A_referral_as_registered_comes_back_whole()
    {
        var referral = AsRegistered();

        var back = CompactReferral.From(CityCardiology, referral).ToReferral(CityCardiology);

        AssertSameReferral(referral, back);
    }

    [Fact]
    public void A_referral_past_registration_comes_back_whole()
    {
        var registered = AsRegistered();
        var scheduledAt = At.AddHours(2).ToOffset(TimeSpan.FromHours(5));
        var admittedAt = At.AddDays(2).ToOffset(TimeSpan.FromHours(5));
        var admitted = registered with
        {
            Status = ReferralStatus.Admitted,
            AdmittedAt = admittedAt,
            StatusReason = "Admitted to the hospital",
            UpdatedAt = admittedAt,
            History =
            [
                .. registered.History,
                new ReferralEvent(9, registered.HospitalizationCode, "SCHEDULED", ReferralStatus.Scheduled, "Planned date confirmed by the hospital", CityHospital, scheduledAt, Day),
                new ReferralEvent(12, registered.HospitalizationCode, "ADMITTED", ReferralStatus.Admitted, "Admitted to the hospital", CityHospital, admittedAt, Day),
            ],
        };
        var cancelled = registered with { Status = ReferralStatus.Cancelled, CancellationReason = CancellationReason.HealthImproved, StatusReason = "Cancelled: HealthImproved", UpdatedAt = At.AddHours(1) };

        AssertSameReferral(admitted, CompactReferral.From(CityCardiology, admitted).ToReferral(CityCardiology));
        Assert.Equal(12, CompactReferral.From(CityCardiology, admitted).LastEventSequence);
        Assert.Equal(7, CompactReferral.From(CityCardiology, registered).LastEventSequence);
        AssertSameReferral(cancelled, CompactReferral.From(CityCardiology, cancelled).ToReferral(CityCardiology));
    }

    [Fact]
    public void A_registration_unlike_the_one_implied_is_kept_as_it_was()
    {
        var registered = AsRegistered();
        var otherReason = registered with { History = [registered.History[0] with { Reason = "Registered (migrated from the regional bureau)" }] };
        var otherOffset = registered with { History = [registered.History[0] with { OccurredAt = At.ToOffset(TimeSpan.FromHours(5)) }] };
        var updatedElsewhere = registered with { UpdatedAt = At.ToOffset(TimeSpan.FromHours(6)) };
        var twoEvents = registered with { History = [.. registered.History, registered.History[0] with { Sequence = 8 }] };

        foreach (var referral in new[] { otherReason, otherOffset, updatedElsewhere, twoEvents })
        {
            AssertSameReferral(referral, CompactReferral.From(CityCardiology, referral).ToReferral(CityCardiology));
        }
    }

    [Fact]
    public void Its_access_key_hash_and_overdue_flag_answer_without_the_full_record()
    {
        var compact = CompactReferral.From(CityCardiology, AsRegistered());

        Assert.True(AccessKeys.Matches("k7q4m 9xd2f", compact.AccessKeyHash));
        Assert.False(AccessKeys.Matches("K7Q4M-9XD2G", compact.AccessKeyHash));
        Assert.False(compact.IsScheduleOverdue(At.AddDays(1)));
        Assert.True(compact.IsScheduleOverdue(At.AddDays(3)));
    }

    [Fact]
    public void A_referral_of_another_grain_is_refused()
    {
        var referral = AsRegistered() with { ProfileCode = "102" };

        Assert.Throws<InvalidOperationException>(() => CompactReferral.From(CityCardiology, referral));
    }
}
