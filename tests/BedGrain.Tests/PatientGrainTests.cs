using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Runtime;
using BedBureau.BedGrain.Storage;
using static BedBureau.BedGrain.Tests.TestWorld;

namespace BedBureau.BedGrain.Tests;

/// <summary>The one-active-referral-per-patient-and-profile rule, durable and across nodes.</summary>
public sealed class PatientGrainTests
{
    private static readonly BedGrainKey DistrictCardiology = new(DistrictHospital, Cardiology);

    /// <summary>Patient storage that counts its loads and fails the commits <see cref="FailCommit"/> selects (1-based count).</summary>
    private sealed class FailingPatients(IPatientGrainStorage inner) : IPatientGrainStorage
    {
        private int _commits;
        private int _loads;

        public Func<int, PatientHoldState?, bool> FailCommit { get; set; } = (_, _) => false;

        public int Loads => _loads;

        public Task<PatientGrainSnapshot?> LoadAsync(PatientGrainKey key, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _loads);
            return inner.LoadAsync(key, cancellationToken);
        }

        public Task CommitAsync(PatientGrainKey key, long expectedVersion, PatientHoldState? hold, CancellationToken cancellationToken) =>
            FailCommit(Interlocked.Increment(ref _commits), hold)
                ? Task.FromException(new IOException("database unreachable"))
                : inner.CommitAsync(key, expectedVersion, hold, cancellationToken);
    }

    private static async Task<(TestWorld A, TestWorld B)> TwoNodes(IPatientGrainStorage? patients = null)
    {
        var storage = new InMemoryBedGrainStorage();
        patients ??= new InMemoryPatientGrainStorage();
        var a = new TestWorld(storage, patients: patients);
        var b = new TestWorld(storage, a.Time, patients: patients);
        await a.OpenCalendarAsync(CityCardiology, 5);
        await a.OpenCalendarAsync(DistrictCardiology, 5);
        return (a, b);
    }

    /// <summary>The patient's row for cardiology, as the patient grains key it.</summary>
    private static PatientGrainKey CardiologyKey(string iin) => new(new TestProtector().Hash(iin), Cardiology);

    /// <summary>A registration of the patient at City cardiology that <paramref name="node"/> recorded and has not reserved yet.</summary>
    private static Task RecordedHoldAsync(IPatientGrainStorage patients, string iin, string requestId, TestWorld node) =>
        patients.CommitAsync(CardiologyKey(iin), 0, new PatientHoldState(CityCardiology, Polyclinic, requestId, null, node.Time.GetUtcNow()), default);

    [Fact]
    public async Task An_idle_patient_grain_leaves_memory_when_an_idle_bed_grain_is_only_trimmed()
    {
        await using var world = new TestWorld(patients: new InMemoryPatientGrainStorage(),
            runtime: new GrainRuntimeOptions { TrimAfter = TimeSpan.FromMinutes(10), IdleTimeout = TimeSpan.FromDays(1) });
        await world.OpenCalendarAsync(CityCardiology, 5);
        var iin = AdultIin();
        await world.RegisterAsync(CityCardiology, iin, world.Today.AddDays(1));
        Assert.Equal(1, world.Bureau.Patients!.ActivationCount);

        world.Time.Advance(TimeSpan.FromMinutes(16)); // the idle sweeps run on the fake clock

        Assert.Equal((0, 1L), (world.Bureau.Patients.ActivationCount, world.Bureau.Patients.Deactivations));
        Assert.Equal((1, 1L), (world.Bureau.Grains.ActivationCount, world.Bureau.Grains.Trims));

        // Loaded again from storage, the patient grain still holds the patient.
        var error = await Assert.ThrowsAsync<DomainException>(() => world.RegisterAsync(CityCardiology, iin, world.Today.AddDays(2)));
        Assert.Equal("ACTIVE_REFERRAL_EXISTS", error.Reason);
    }

    [Fact]
    public async Task A_second_node_refuses_the_patient_another_hospital_of_the_same_profile()
    {
        var (a, b) = await TwoNodes();
        await using var _ = a;
        await using var __ = b;
        var iin = AdultIin();
        var first = await a.RegisterAsync(CityCardiology, iin, a.Today.AddDays(1));
        Assert.Equal(0, b.Bureau.PatientHolds.Count); // node B's process-wide holds know nothing of it

        var error = await Assert.ThrowsAsync<DomainException>(() => b.RegisterAsync(DistrictCardiology, iin, b.Today.AddDays(1)));

        Assert.Equal((DomainErrorKind.AlreadyExists, "patient_iin"), (error.Kind, error.Field));
        Assert.Contains(first.View.Referral.HospitalizationCode, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Once_the_referral_ends_another_node_accepts_the_patient()
    {
        var (a, b) = await TwoNodes();
        await using var _ = a;
        await using var __ = b;
        var iin = AdultIin();
        var first = await a.RegisterAsync(CityCardiology, iin, a.Today.AddDays(1));
        await a.Bureau.CancelAsync(first.View.Referral.HospitalizationCode, Clinic, "c1", CancellationReason.PatientRequest, "");

        var second = await b.RegisterAsync(DistrictCardiology, iin, b.Today.AddDays(1));

        Assert.Equal(ReferralStatus.Registered, second.View.Referral.Status);
    }

    [Fact]
    public async Task A_node_that_saw_the_referral_active_accepts_the_patient_once_another_node_ended_it()
    {
        var (a, b) = await TwoNodes();
        await using var _ = a;
        await using var __ = b;
        var iin = AdultIin();
        var first = await a.RegisterAsync(CityCardiology, iin, a.Today.AddDays(1));
        await Assert.ThrowsAsync<DomainException>(() => b.RegisterAsync(DistrictCardiology, iin, b.Today.AddDays(1)));

        // Node B's activation of the city grain still has the referral active in memory.
        await a.Bureau.CancelAsync(first.View.Referral.HospitalizationCode, Clinic, "c1", CancellationReason.PatientRequest, "");
        var second = await b.RegisterAsync(DistrictCardiology, iin, b.Today.AddDays(1));

        Assert.Equal(ReferralStatus.Registered, second.View.Referral.Status);
        Assert.Equal(0, b.Bureau.PatientHolds.Count);
    }

    [Fact]
    public async Task A_node_restarted_while_the_patient_held_a_referral_accepts_them_once_it_ended_elsewhere()
    {
        var (a, b) = await TwoNodes();
        await using var _ = a;
        await using var __ = b;
        var iin = AdultIin();
        var first = await a.RegisterAsync(CityCardiology, iin, a.Today.AddDays(1));
        await b.Bureau.RecoverAsync(default);

        await a.Bureau.CancelAsync(first.View.Referral.HospitalizationCode, Clinic, "c1", CancellationReason.PatientRequest, "");
        var second = await b.RegisterAsync(DistrictCardiology, iin, b.Today.AddDays(1));

        Assert.Equal(ReferralStatus.Registered, second.View.Referral.Status);
    }

    [Fact]
    public async Task A_restarted_node_refuses_a_patient_whose_referral_is_still_active()
    {
        var (a, b) = await TwoNodes();
        await using var _ = a;
        await using var __ = b;
        var iin = AdultIin();
        await a.RegisterAsync(CityCardiology, iin, a.Today.AddDays(1));
        await using var restarted = new TestWorld(a.Storage, a.Time, patients: a.Patients);
        await restarted.Bureau.RecoverAsync(default);

        var error = await Assert.ThrowsAsync<DomainException>(() => restarted.RegisterAsync(DistrictCardiology, iin, restarted.Today.AddDays(1)));

        Assert.Equal("ACTIVE_REFERRAL_EXISTS", error.Reason);
        Assert.Equal(0, restarted.Bureau.PatientHolds.Count);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Racing_registrations_of_one_patient_on_two_nodes_leave_one_active_referral(int seed)
    {
        var (a, b) = await TwoNodes();
        await using var _ = a;
        await using var __ = b;
        var iin = AdultIin();
        var random = new Random(seed);
        var attempts = Enumerable.Range(0, 40).Select(i => (Node: random.Next(2) == 0 ? a : b, Grain: random.Next(2) == 0 ? CityCardiology : DistrictCardiology, Index: i)).ToArray();

        var outcomes = await Task.WhenAll(attempts.Select(attempt => Task.Run(async () =>
        {
            try
            {
                return (await attempt.Node.RegisterAsync(attempt.Grain, iin, attempt.Node.Today.AddDays(1), requestId: $"race-{attempt.Index}")).View.Referral.HospitalizationCode;
            }
            catch (DomainException ex) when (ex.Kind == DomainErrorKind.AlreadyExists || ex.Reason == "REGISTRATION_SUPERSEDED")
            {
                return null;
            }
            catch (StorageConflictException)
            {
                return null;
            }
        })));

        var accepted = Assert.Single(outcomes, o => o is not null);
        var store = (InMemoryBedGrainStorage)a.Storage;
        var active = new[] { CityCardiology, DistrictCardiology }
            .SelectMany(grain => store.EventsOf(grain))
            .Where(e => e.Action == "REGISTERED")
            .Select(e => e.HospitalizationCode)
            .ToArray();
        Assert.Equal([accepted!], active);
    }

    [Fact]
    public async Task An_acknowledged_registration_whose_code_was_not_recorded_still_holds_the_patient()
    {
        var patients = new FailingPatients(new InMemoryPatientGrainStorage());
        var (a, b) = await TwoNodes(patients);
        await using var _ = a;
        await using var __ = b;
        var iin = AdultIin();

        // The hold is recorded, the bed grain reserves, then recording the code fails.
        patients.FailCommit = (_, hold) => hold?.HospitalizationCode is not null;
        var first = await a.RegisterAsync(CityCardiology, iin, a.Today.AddDays(1));
        patients.FailCommit = (_, _) => false;

        var error = await Assert.ThrowsAsync<DomainException>(() => b.RegisterAsync(DistrictCardiology, iin, b.Today.AddDays(1)));

        Assert.Equal(ReferralStatus.Registered, first.View.Referral.Status);
        Assert.Contains(first.View.Referral.HospitalizationCode, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_registration_interrupted_before_the_bed_grain_holds_nothing()
    {
        var patients = new InMemoryPatientGrainStorage();
        var (a, b) = await TwoNodes(patients);
        await using var _ = a;
        await using var __ = b;
        var iin = AdultIin();

        // As a node crashing after recording the hold and before the bed grain reserved.
        await RecordedHoldAsync(patients, iin, "lost", a);
        b.Time.Advance(PatientGrain.InFlight);
        var result = await b.RegisterAsync(DistrictCardiology, iin, b.Today.AddDays(1));

        Assert.Equal(ReferralStatus.Registered, result.View.Referral.Status);
        Assert.Equal(result.View.Referral.HospitalizationCode, (await patients.LoadAsync(CardiologyKey(iin), default))!.Hold!.HospitalizationCode);
    }

    [Fact]
    public async Task A_registration_in_flight_on_another_node_is_not_fenced_off_the_other_retries()
    {
        var patients = new InMemoryPatientGrainStorage();
        var (a, b) = await TwoNodes(patients);
        await using var _ = a;
        await using var __ = b;
        var iin = AdultIin();

        // Node a has recorded its hold and is about to reserve: node b's registration must wait.
        await RecordedHoldAsync(patients, iin, "first", a);
        await Assert.ThrowsAsync<StorageConflictException>(() => b.RegisterAsync(DistrictCardiology, iin, b.Today.AddDays(1), requestId: "second"));

        var first = await a.RegisterAsync(CityCardiology, iin, a.Today.AddDays(1), requestId: "first");
        var retried = await Assert.ThrowsAsync<DomainException>(() => b.RegisterAsync(DistrictCardiology, iin, b.Today.AddDays(1), requestId: "second"));

        Assert.Equal(ReferralStatus.Registered, first.View.Referral.Status);
        Assert.Equal("ACTIVE_REFERRAL_EXISTS", retried.Reason);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_late_retry_of_an_earlier_registration_gets_its_first_result_and_the_patient_still_holds_the_later_one(bool durable)
    {
        await using var world = new TestWorld(patients: durable ? new InMemoryPatientGrainStorage() : null);
        await world.OpenCalendarAsync(CityCardiology, 5);
        await world.OpenCalendarAsync(DistrictCardiology, 5);
        var iin = AdultIin();
        var first = await world.RegisterAsync(CityCardiology, iin, world.Today.AddDays(1), requestId: "r1");
        await world.Bureau.CancelAsync(first.View.Referral.HospitalizationCode, Clinic, "c1", CancellationReason.PatientRequest, "");
        var second = await world.RegisterAsync(CityCardiology, iin, world.Today.AddDays(2), requestId: "r2");

        var again = await world.RegisterAsync(CityCardiology, iin, world.Today.AddDays(1), requestId: "r1");

        Assert.Equal((first.View.Referral.HospitalizationCode, first.AccessKey), (again.View.Referral.HospitalizationCode, again.AccessKey));
        var refused = await Assert.ThrowsAsync<DomainException>(() => world.RegisterAsync(DistrictCardiology, iin, world.Today.AddDays(1), requestId: "r3"));
        Assert.Contains(second.View.Referral.HospitalizationCode, refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_refused_registration_leaves_no_hold()
    {
        var patients = new InMemoryPatientGrainStorage();
        var (a, b) = await TwoNodes(patients);
        await using var _ = a;
        await using var __ = b;
        var iin = AdultIin();

        await Assert.ThrowsAsync<DomainException>(() => a.RegisterAsync(CityCardiology, iin, a.Today.AddDays(60)));

        var stored = await patients.LoadAsync(CardiologyKey(iin), default);
        Assert.Null(stored!.Hold);
    }

    [Fact]
    public async Task A_patient_new_to_the_profile_registers_without_reading_their_row_and_a_known_one_is_read()
    {
        var patients = new FailingPatients(new InMemoryPatientGrainStorage());
        var (a, b) = await TwoNodes(patients);
        await using var _ = a;
        await using var __ = b;
        var iin = AdultIin();

        await a.RegisterAsync(CityCardiology, iin, a.Today.AddDays(1));
        Assert.Equal(0, patients.Loads);

        // Node B's first write finds the row, so it reads it and sees the active referral.
        var error = await Assert.ThrowsAsync<DomainException>(() => b.RegisterAsync(DistrictCardiology, iin, b.Today.AddDays(1)));
        Assert.Equal(("ACTIVE_REFERRAL_EXISTS", 1), (error.Reason, patients.Loads));
    }

    [Fact]
    public async Task The_patient_grain_never_sees_the_iin()
    {
        var patients = new InMemoryPatientGrainStorage();
        var (a, b) = await TwoNodes(patients);
        await using var _ = a;
        await using var __ = b;
        var iin = AdultIin();

        await a.RegisterAsync(CityCardiology, iin, a.Today.AddDays(1));

        var key = CardiologyKey(iin);
        Assert.NotNull(await patients.LoadAsync(key, default));
        Assert.DoesNotContain(iin, key.PatientKey, StringComparison.Ordinal);
        Assert.DoesNotContain(iin, key.ToString(), StringComparison.Ordinal);
    }
}

/// <summary>What every patient grain storage must do; durable adapters derive from this class.</summary>
public abstract class PatientGrainStorageContractTests
{
    protected abstract Task<IPatientGrainStorage> CreateStorageAsync();

    private static readonly PatientGrainKey Key = new("c2f1a9", "101");
    private static readonly PatientHoldState Hold = new(new BedGrainKey("01W9", "101"), "PC-1", "r1", null, new DateTimeOffset(2026, 11, 2, 9, 0, 0, TimeSpan.FromHours(5)));

    [Fact]
    public async Task A_patient_never_committed_loads_as_nothing()
    {
        var storage = await CreateStorageAsync();

        Assert.Null(await storage.LoadAsync(Key, default));
    }

    [Fact]
    public async Task Commits_load_back_with_the_next_version()
    {
        var storage = await CreateStorageAsync();

        await storage.CommitAsync(Key, 0, Hold, default);
        await storage.CommitAsync(Key, 1, Hold with { HospitalizationCode = "75.01W9.101.1" }, default);
        await storage.CommitAsync(Key, 2, null, default);
        await storage.CommitAsync(Key, 3, Hold with { RequestId = "r2" }, default);

        Assert.Equal(new PatientGrainSnapshot(4, Hold with { RequestId = "r2" }), await storage.LoadAsync(Key, default));
    }

    [Fact]
    public async Task A_stale_version_conflicts_and_writes_nothing()
    {
        var storage = await CreateStorageAsync();
        await storage.CommitAsync(Key, 0, Hold, default);

        await Assert.ThrowsAsync<StorageConflictException>(() => storage.CommitAsync(Key, 0, Hold with { RequestId = "other" }, default));
        await Assert.ThrowsAsync<StorageConflictException>(() => storage.CommitAsync(Key, 5, null, default));

        Assert.Equal(new PatientGrainSnapshot(1, Hold), await storage.LoadAsync(Key, default));
    }

    [Fact]
    public async Task Of_two_racing_first_commits_exactly_one_wins()
    {
        var storage = await CreateStorageAsync();

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            try
            {
                await storage.CommitAsync(Key, 0, Hold with { RequestId = $"r{i}" }, default);
                return true;
            }
            catch (StorageConflictException)
            {
                return false;
            }
        })));

        Assert.Single(results, won => won);
    }
}

public sealed class InMemoryPatientGrainStorageTests : PatientGrainStorageContractTests
{
    protected override Task<IPatientGrainStorage> CreateStorageAsync() => Task.FromResult<IPatientGrainStorage>(new InMemoryPatientGrainStorage());
}
