using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Tests;
using BedBureau.Gateway.Storage;
using static BedBureau.BedGrain.Tests.TestWorld;

namespace BedBureau.Gateway.Tests.Storage;

/// <summary>
/// Referrals registered while the patient rule was in-process (before patient grains, or under
/// <c>Bureau:PatientRule=Process</c>) hold their patients once the rule is durable.
/// </summary>
public sealed class PatientRuleAdoptionTests : IAsyncLifetime
{
    private static readonly BedGrainKey DistrictCardiology = new(DistrictHospital, Cardiology);
    private readonly List<IAsyncDisposable> _resources = [];

    public Task InitializeAsync() => Task.CompletedTask;

    private async Task<(SqlBedGrainStorage Beds, SqlPatientGrainStorage Patients)> StoragesAsync(string dialect)
    {
        Func<CancellationToken, ValueTask<System.Data.Common.DbConnection>> open;
        if (dialect == "postgres")
        {
            var database = PostgresDatabase.Create(await TestDatabases.CreatePostgresDatabaseAsync());
            _resources.Add(database);
            await database.MigrateAsync(default);
            open = async ct => await database.OpenAsync(ct);
        }
        else
        {
            var database = new SqliteDatabase(TestDatabases.NewSqlitePath());
            await database.MigrateAsync(default);
            open = async ct => await database.OpenAsync(ct);
        }

        var sqlDialect = dialect == "postgres" ? SqlDialect.Postgres : SqlDialect.Sqlite;
        var options = new GroupCommitOptions { Writers = 1 };
        var beds = new SqlBedGrainStorage(open, sqlDialect, options, TimeProvider.System);
        var patients = new SqlPatientGrainStorage(open, sqlDialect, options, TimeProvider.System);
        _resources.Insert(0, beds);
        _resources.Insert(0, patients);
        return (beds, patients);
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task An_active_referral_of_the_in_process_rule_holds_its_patient_once_the_rule_is_durable(string dialect)
    {
        var (beds, patients) = await StoragesAsync(dialect);
        var (held, freed) = (AdultIin(), AdultIin());
        string code;
        await using (var before = new TestWorld(beds))
        {
            await before.OpenCalendarAsync(CityCardiology, 5);
            await before.OpenCalendarAsync(DistrictCardiology, 5);
            code = (await before.RegisterAsync(CityCardiology, held, before.Today.AddDays(1), requestId: "first")).View.Referral.HospitalizationCode;
            var cancelled = await before.RegisterAsync(CityCardiology, freed, before.Today.AddDays(1));
            await before.Bureau.CancelAsync(cancelled.View.Referral.HospitalizationCode, Clinic, "c1", CancellationReason.PatientRequest, "");
        }

        Assert.Equal(1, await patients.AdoptActiveReferralsAsync(default));
        Assert.Equal(0, await patients.AdoptActiveReferralsAsync(default));

        await using var after = new TestWorld(beds, patients: patients);
        var error = await Assert.ThrowsAsync<DomainException>(() => after.RegisterAsync(DistrictCardiology, held, after.Today.AddDays(1)));
        Assert.Equal("ACTIVE_REFERRAL_EXISTS", error.Reason);
        Assert.Contains(code, error.Message, StringComparison.Ordinal);

        // The adopted hold knows its request: a retry of it gets its first result.
        var retried = await after.RegisterAsync(CityCardiology, held, after.Today.AddDays(1), requestId: "first");
        Assert.Equal(code, retried.View.Referral.HospitalizationCode);

        var registered = await after.RegisterAsync(DistrictCardiology, freed, after.Today.AddDays(1));
        Assert.Equal(ReferralStatus.Registered, registered.View.Referral.Status);
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task A_hold_on_an_ended_referral_gives_way_to_an_active_one_registered_in_process(string dialect)
    {
        var (beds, patients) = await StoragesAsync(dialect);
        var iin = AdultIin();
        var key = new PatientGrainKey(new TestProtector().Hash(iin), Cardiology);
        await using (var durable = new TestWorld(beds, patients: patients))
        {
            await durable.OpenCalendarAsync(CityCardiology, 5);
            await durable.OpenCalendarAsync(DistrictCardiology, 5);
            var first = await durable.RegisterAsync(CityCardiology, iin, durable.Today.AddDays(1));
            await durable.Bureau.CancelAsync(first.View.Referral.HospitalizationCode, Clinic, "c1", CancellationReason.PatientRequest, "");
        }

        string code;
        await using (var inProcess = new TestWorld(beds))
        {
            code = (await inProcess.RegisterAsync(DistrictCardiology, iin, inProcess.Today.AddDays(1))).View.Referral.HospitalizationCode;
        }

        var stale = (await patients.LoadAsync(key, default))!;
        Assert.Equal(1, await patients.AdoptActiveReferralsAsync(default));

        var adopted = (await patients.LoadAsync(key, default))!;
        Assert.Equal((stale.Version + 1, code, DistrictCardiology), (adopted.Version, adopted.Hold!.HospitalizationCode, adopted.Hold.Grain));
        await using var after = new TestWorld(beds, patients: patients);
        var error = await Assert.ThrowsAsync<DomainException>(() => after.RegisterAsync(CityCardiology, iin, after.Today.AddDays(2)));
        Assert.Equal("ACTIVE_REFERRAL_EXISTS", error.Reason);
    }

    public async Task DisposeAsync()
    {
        foreach (var resource in _resources)
        {
            await resource.DisposeAsync();
        }
    }
}
