using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Storage;
using BedBureau.Gateway.Storage;

namespace BedBureau.Gateway.Tests.Storage;

public sealed class SharedStringsTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 2, 9, 0, 0, TimeSpan.FromHours(5));
    private static readonly DateOnly Day = new(2026, 11, 3);

    [Fact]
    public void Equal_short_texts_come_back_as_one_instance_and_long_ones_as_given()
    {
        var pool = new SharedStrings(capacity: 10, maxLength: 8);
        var first = new string("PC-75-01".AsSpan());
        var second = new string("PC-75-01".AsSpan());
        var longer = new string("a longer reason".AsSpan());

        Assert.Same(first, pool.Share(first));
        Assert.Same(first, pool.Share(second));
        Assert.Same(longer, pool.Share(longer));
        Assert.Same(string.Empty, pool.Share(""));
    }

    [Fact]
    public void A_full_pool_keeps_what_it_has_and_returns_new_texts_as_given()
    {
        var pool = new SharedStrings(capacity: 2, maxLength: 64);
        var a = pool.Share("a");
        pool.Share("b");
        var c = new string("c".AsSpan());

        Assert.Same(c, pool.Share(c));
        Assert.Same(a, pool.Share(new string("a".AsSpan())));
    }

    [Fact]
    public async Task Referrals_loaded_from_storage_share_their_repeated_texts_and_keep_their_values()
    {
        var database = new SqliteDatabase(TestDatabases.NewSqlitePath());
        await database.MigrateAsync(default);
        await using var storage = new SqlBedGrainStorage(async ct => await database.OpenAsync(ct), SqlDialect.Sqlite, new GroupCommitOptions { Writers = 1 }, TimeProvider.System);
        var cardiology = new BedGrainKey("01W9", "101");
        var surgery = new BedGrainKey("01W9", "102");
        var first = NewReferral(cardiology, "75.01W9.101.1");
        var second = NewReferral(surgery, "75.01W9.102.1");
        var idempotency = new IdempotencyRecord("PC-75-001/r1", "RegisterReferral", first.HospitalizationCode, "a2V5", At);
        await storage.CommitAsync(cardiology, 0, Change(first, idempotency), default);
        await storage.CommitAsync(surgery, 0, Change(second, null), default);

        var a = await storage.LoadReferralsAsync(cardiology, 1, default);
        var b = await storage.LoadReferralsAsync(surgery, 1, default);
        var loadedFirst = Assert.Single(a.Referrals);
        var loadedSecond = Assert.Single(b.Referrals);

        // The values are those committed ...
        Assert.Equal(first with { History = [], AccessKeyHash = [] }, loadedFirst with { History = [], AccessKeyHash = [] });
        Assert.Equal(first.History, loadedFirst.History);
        Assert.Equal(idempotency, Assert.Single(a.Registrations));

        // ... and each repeated text is one instance: across grains, within a referral, and from the grain's key.
        Assert.Same(loadedFirst.ReferringOrganizationId, loadedSecond.ReferringOrganizationId);
        Assert.Same(loadedFirst.StatusReason, loadedSecond.StatusReason);
        Assert.Same(loadedFirst.Icd10Code, loadedSecond.Icd10Code);
        Assert.Same(loadedFirst.History[0].Reason, loadedSecond.History[0].Reason);
        Assert.Same(loadedFirst.History[0].Action, loadedSecond.History[0].Action);
        Assert.Same(loadedFirst.HospitalizationCode, loadedFirst.History[0].HospitalizationCode);
        Assert.Same(loadedFirst.HospitalizationCode, a.Registrations[0].HospitalizationCode);
        Assert.Same(cardiology.HospitalId, loadedFirst.HospitalId);
        Assert.Same(cardiology.ProfileCode, loadedFirst.ProfileCode);
    }

    private static Referral NewReferral(BedGrainKey key, string code)
    {
        var registered = new ReferralEvent(1, code, "REGISTERED", ReferralStatus.Registered, "Registered by the referring polyclinic", "PC-75-001", At, Day);
        return new Referral
        {
            HospitalizationCode = code,
            AccessKeyHash = AccessKeys.Hash("K7Q4M-9XD2F"),
            Status = ReferralStatus.Registered,
            HospitalId = key.HospitalId,
            ProfileCode = key.ProfileCode,
            ReferringOrganizationId = "PC-75-001",
            PatientKey = $"patient-{code}",
            ProtectedPatientIin = "cHJvdGVjdGVk",
            Icd10Code = "I20.8",
            PatientLocality = "Алматы",
            PatientRegionCode = "75",
            PlannedDate = Day,
            RegistrationSequence = 1,
            RegisteredAt = At,
            ScheduleDueAt = At.AddDays(2),
            StatusReason = registered.Reason,
            UpdatedAt = At,
            History = [registered],
        };
    }

    private static BedGrainChange Change(Referral referral, IdempotencyRecord? idempotency) =>
        new(1, null, [], [referral], referral.History, idempotency, 2, 2, referral.ReferringOrganizationId);
}
