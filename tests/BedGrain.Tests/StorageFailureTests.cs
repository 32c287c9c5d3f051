using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Runtime;
using BedBureau.BedGrain.Storage;
using static BedBureau.BedGrain.Tests.TestWorld;

namespace BedBureau.BedGrain.Tests;

public sealed class StorageFailureTests
{
    private static readonly BedGrainKey District = new(DistrictHospital, Cardiology);

    /// <summary>Storage whose commits fail while <see cref="Failing"/> is set, as when the database is down.</summary>
    private sealed class FlakyStorage(IBedGrainStorage inner) : DelegatingStorage(inner)
    {
        private int _failures;

        public bool Failing { get; set; }

        public int Failures => Volatile.Read(ref _failures);

        public override Task CommitAsync(BedGrainKey key, long expectedVersion, BedGrainChange change, CancellationToken cancellationToken)
        {
            if (!Failing)
            {
                return base.CommitAsync(key, expectedVersion, change, cancellationToken);
            }

            Interlocked.Increment(ref _failures);
            return Task.FromException(new IOException("database unreachable"));
        }
    }

    /// <summary>A world on <paramref name="storage"/> whose city and district hospitals open two slots a day.</summary>
    private static async Task<TestWorld> TwoHospitalsAsync(IBedGrainStorage storage)
    {
        var world = new TestWorld(storage);
        await world.OpenCalendarAsync(CityCardiology, 2);
        await world.OpenCalendarAsync(District, 2);
        return world;
    }

    [Fact]
    public async Task A_failed_write_fails_the_call_and_leaves_the_grain_as_it_was()
    {
        var storage = new FlakyStorage(new InMemoryBedGrainStorage());
        await using var world = new TestWorld(storage);
        await world.OpenCalendarAsync(CityCardiology, 1);
        var planned = world.Today.AddDays(1);
        var iin = AdultIin();

        storage.Failing = true;
        await Assert.ThrowsAsync<IOException>(() => world.RegisterAsync(CityCardiology, iin, planned));
        await Assert.ThrowsAsync<IOException>(() => world.Bureau.ReportBedsAsync(CityCardiology, City, "b", new BedReport(10, 5, 5, 0, 0, null)));
        storage.Failing = false;

        var calendar = await world.Bureau.CallAsync(CityCardiology, planned, static (g, d) => Task.FromResult(g.CalendarFrom(d)));
        Assert.Equal(0, calendar[0].Reserved);
        Assert.Null(await world.Bureau.CallAsync(CityCardiology, 0, static (g, _) => Task.FromResult(g.Census)));
        Assert.Equal(0, world.Bureau.PatientHolds.Count);

        // The same patient, slot and code sequence are still free.
        var result = await world.RegisterAsync(CityCardiology, iin, planned);
        Assert.EndsWith(".1", result.View.Referral.HospitalizationCode, StringComparison.Ordinal);
    }

    /// <summary>An observer (watch streams, caches) that fails after the commit.</summary>
    private sealed class ThrowingObserver : IBedGrainObserver
    {
        public bool Failing { get; set; }

        public void OnCommitted(BedGrainKey key, BedGrainChange change)
        {
            if (Failing)
            {
                throw new InvalidOperationException("observer failed");
            }
        }
    }

    /// <summary>Storage whose commits write, then fail while <see cref="Failing"/> is set, as when the connection drops at commit.</summary>
    private sealed class LostAcknowledgementStorage(IBedGrainStorage inner) : DelegatingStorage(inner)
    {
        public bool Failing { get; set; }

        public override async Task CommitAsync(BedGrainKey key, long expectedVersion, BedGrainChange change, CancellationToken cancellationToken)
        {
            await base.CommitAsync(key, expectedVersion, change, cancellationToken);
            if (Failing)
            {
                throw new IOException("connection lost at commit");
            }
        }
    }

    [Fact]
    public async Task A_failure_after_the_commit_keeps_the_patients_hold()
    {
        var observer = new ThrowingObserver();
        await using var world = new TestWorld(observer: observer);
        await world.OpenCalendarAsync(CityCardiology, 1);
        await world.OpenCalendarAsync(new BedGrainKey(DistrictHospital, Cardiology), 1);
        var iin = AdultIin();

        observer.Failing = true;
        await Assert.ThrowsAsync<InvalidOperationException>(() => world.RegisterAsync(CityCardiology, iin, world.Today.AddDays(1)));
        observer.Failing = false;

        var code = HospitalizationCodes.Format("75", CityCardiology, 1);
        Assert.Equal(ReferralStatus.Registered, (await world.Bureau.GetAsync(code)).Referral.Status);
        Assert.Equal(1, world.Bureau.PatientHolds.Count);
        var refused = await Assert.ThrowsAsync<DomainException>(() => world.RegisterAsync(new BedGrainKey(DistrictHospital, Cardiology), iin, world.Today.AddDays(1)));
        Assert.Equal("ACTIVE_REFERRAL_EXISTS", refused.Reason);
    }

    [Fact]
    public async Task A_registration_whose_write_had_no_clear_outcome_holds_the_patient_until_its_retry_finds_it_stored()
    {
        var storage = new LostAcknowledgementStorage(new InMemoryBedGrainStorage());
        await using var world = await TwoHospitalsAsync(storage);
        var iin = AdultIin();

        storage.Failing = true;
        await Assert.ThrowsAsync<IOException>(() => world.RegisterAsync(CityCardiology, iin, world.Today.AddDays(1), requestId: "r1"));
        storage.Failing = false;

        // Nobody takes the patient while the outcome is unknown.
        var meanwhile = await Assert.ThrowsAsync<DomainException>(() => world.RegisterAsync(District, iin, world.Today.AddDays(1)));
        Assert.Equal((DomainErrorKind.Unavailable, "REGISTRATION_OUTCOME_UNKNOWN"), (meanwhile.Kind, meanwhile.Reason));

        // The retry reads what storage has: the referral, its first result; the hospital's next
        // report finds the grain as stored.
        var retried = await world.RegisterAsync(CityCardiology, iin, world.Today.AddDays(1), requestId: "r1");
        await world.Bureau.ReportBedsAsync(CityCardiology, City, "b", new BedReport(10, 5, 5, 0, 0, null));

        Assert.Equal(HospitalizationCodes.Format("75", CityCardiology, 1), retried.View.Referral.HospitalizationCode);
        var refused = await Assert.ThrowsAsync<DomainException>(() => world.RegisterAsync(District, iin, world.Today.AddDays(1)));
        Assert.Equal("ACTIVE_REFERRAL_EXISTS", refused.Reason);
    }

    [Fact]
    public async Task A_registration_storage_never_took_frees_the_patient_once_the_grain_wakes_up_and_reads_storage()
    {
        var storage = new FlakyStorage(new InMemoryBedGrainStorage());
        await using var world = await TwoHospitalsAsync(storage);
        var iin = AdultIin();

        storage.Failing = true;
        await Assert.ThrowsAsync<IOException>(() => world.RegisterAsync(CityCardiology, iin, world.Today.AddDays(1)));
        storage.Failing = false;
        var meanwhile = await Assert.ThrowsAsync<DomainException>(() => world.RegisterAsync(District, iin, world.Today.AddDays(1)));
        world.Time.Advance(BedProfileGrain.RecheckAfter);
        await WaitUntil(() => world.Bureau.PatientHolds.Count == 0);

        var registered = await world.RegisterAsync(District, iin, world.Today.AddDays(1));

        Assert.Equal("REGISTRATION_OUTCOME_UNKNOWN", meanwhile.Reason);
        Assert.Equal(ReferralStatus.Registered, registered.View.Referral.Status);
    }

    [Fact]
    public async Task A_cancellation_whose_write_had_no_clear_outcome_frees_the_patient_once_the_grain_reads_it_stored()
    {
        var storage = new LostAcknowledgementStorage(new InMemoryBedGrainStorage());
        await using var world = await TwoHospitalsAsync(storage);
        var iin = AdultIin();
        var code = (await world.RegisterAsync(CityCardiology, iin, world.Today.AddDays(1))).View.Referral.HospitalizationCode;

        storage.Failing = true;
        await Assert.ThrowsAsync<IOException>(() => world.Bureau.CancelAsync(code, Clinic, "c1", CancellationReason.PatientRequest, ""));
        storage.Failing = false;
        world.Time.Advance(BedProfileGrain.RecheckAfter);
        await WaitUntil(() => world.Bureau.PatientHolds.Count == 0);

        var registered = await world.RegisterAsync(District, iin, world.Today.AddDays(1));

        Assert.Equal(ReferralStatus.Cancelled, (await world.Bureau.GetAsync(code)).Referral.Status);
        Assert.Equal(ReferralStatus.Registered, registered.View.Referral.Status);
    }

    [Fact]
    public async Task A_queue_listed_while_a_failed_no_show_wake_up_waits_to_retry_shows_the_referral_expired()
    {
        var stored = new InMemoryBedGrainStorage();
        var storage = new FlakyStorage(stored);
        await using var world = new TestWorld(storage);
        await world.OpenCalendarAsync(CityCardiology, 1);
        var code = (await world.RegisterAsync(CityCardiology, AdultIin(), world.Today.AddDays(1))).View.Referral.HospitalizationCode;

        storage.Failing = true;
        world.Time.Advance(TimeSpan.FromDays(4));
        await WaitUntil(() => storage.Failures > 0);
        storage.Failing = false;

        var queue = await world.Bureau.CallAsync(CityCardiology, 0, static (grain, _) => grain.ListQueueAsync(new QueueFilter(null, null, null), default));

        Assert.DoesNotContain(queue, v => v.Referral.HospitalizationCode == code);
        Assert.Equal(ReferralStatus.NoShow, stored.StoredReferral(CityCardiology, code)!.Status);
    }

    [Fact]
    public async Task A_failed_transition_keeps_the_referral_active_and_its_slot_held()
    {
        var storage = new FlakyStorage(new InMemoryBedGrainStorage());
        await using var world = new TestWorld(storage);
        await world.OpenCalendarAsync(CityCardiology, 1);
        var code = (await world.RegisterAsync(CityCardiology, AdultIin(), world.Today.AddDays(1))).View.Referral.HospitalizationCode;

        storage.Failing = true;
        await Assert.ThrowsAsync<IOException>(() => world.Bureau.CancelAsync(code, Clinic, "c", CancellationReason.PatientRequest, ""));
        storage.Failing = false;

        var view = await world.Bureau.GetAsync(code);
        Assert.Equal((ReferralStatus.Registered, 1), (view.Referral.Status, view.QueuePosition));
        Assert.Equal(1, world.Bureau.PatientHolds.Count);
    }
}
