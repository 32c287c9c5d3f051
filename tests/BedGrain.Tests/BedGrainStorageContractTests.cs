using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Runtime;
using BedBureau.BedGrain.Storage;
using static BedBureau.BedGrain.Tests.TestWorld;

namespace BedBureau.BedGrain.Tests;

/// <summary>
/// What every implementation of the grains' storage port must do. Each adapter's test class
/// derives from this one and supplies an empty storage.
/// </summary>
public abstract class BedGrainStorageContractTests
{
    protected abstract Task<IBedGrainStorage> CreateStorageAsync();

    private static readonly DateTimeOffset At = new(2026, 11, 2, 9, 0, 0, TimeSpan.FromHours(5));
    private static readonly DateOnly Day = new(2026, 11, 3);

    private static Referral NewReferral(string code, long sequence, ReferralStatus status = ReferralStatus.Registered, DateOnly? planned = null)
    {
        var @event = new ReferralEvent(sequence, code, "REGISTERED", status, "Registered", Polyclinic, At, planned ?? Day);
        return new Referral
        {
            HospitalizationCode = code,
            AccessKeyHash = AccessKeys.Hash("K7Q4M-9XD2F"),
            Status = status,
            HospitalId = CityHospital,
            ProfileCode = Cardiology,
            ReferringOrganizationId = Polyclinic,
            PatientKey = $"patient-{sequence}",
            ProtectedPatientIin = "cHJvdGVjdGVk",
            Icd10Code = "I20.8",
            Purpose = TreatmentPurpose.Surgical,
            FinanceSource = FinanceSource.GuaranteedVolume,
            PatientLocality = "Алматы",
            PatientRegionCode = "75",
            PlannedDate = planned ?? Day,
            RegistrationSequence = sequence,
            RegisteredAt = At,
            ScheduleDueAt = At.AddDays(2),
            StatusReason = "Registered",
            UpdatedAt = At,
            History = [@event],
        };
    }

    private static BedGrainChange Change(long version, IReadOnlyList<Referral> referrals, IReadOnlyList<CalendarSlots>? calendar = null, BedCensus? census = null, IdempotencyRecord? idempotency = null) =>
        new(version, census, calendar ?? [], referrals,
            referrals.Select((r, i) => r.History[^1] with { Sequence = version * 100 + i }).ToArray(), idempotency, referrals.Count + 1, version * 10, Polyclinic);

    [Fact]
    public async Task A_grain_never_committed_loads_as_nothing()
    {
        var storage = await CreateStorageAsync();

        Assert.Null(await storage.LoadAsync(CityCardiology, At.AddDays(-7), default));
    }

    [Fact]
    public async Task What_is_committed_loads_back_whole()
    {
        var storage = await CreateStorageAsync();
        var referral = NewReferral("75.01W9.101.1", 1);
        var census = new BedCensus(40, 30, 8, 5, 3, At);
        var registration = new IdempotencyRecord($"{Polyclinic}/r1", IdempotencyRecord.Registration, referral.HospitalizationCode, "a2V5", At);
        var report = new IdempotencyRecord($"{CityHospital}/b1", "ReportBeds", "", null, At);

        await storage.CommitAsync(CityCardiology, 0, Change(1, [referral], [new(Day, 4), new(Day.AddDays(1), 2)], idempotency: registration), default);
        await storage.CommitAsync(CityCardiology, 1, Change(2, [], census: census, idempotency: report), default);
        var loaded = await storage.LoadAsync(CityCardiology, At.AddDays(-7), default);
        var referrals = await storage.LoadReferralsAsync(CityCardiology, 2, default);

        Assert.NotNull(loaded);
        Assert.Equal(2, loaded.Version);
        Assert.Equal(census, loaded.Census);
        Assert.Equal([new(Day, 4), new(Day.AddDays(1), 2)], loaded.Calendar.OrderBy(d => d.Date));
        Assert.Equal(new Dictionary<DateOnly, int> { [Day] = 1 }, loaded.ActiveByDate);
        Assert.Equal(report, Assert.Single(loaded.Idempotency));
        Assert.Equal((1L, 20L), (loaded.NextCodeSequence, loaded.NextEventSequence));
        var stored = Assert.Single(referrals.Referrals);
        Assert.Equal(referral.HospitalizationCode, stored.HospitalizationCode);
        Assert.Equal(referral.AccessKeyHash, stored.AccessKeyHash);
        Assert.Equal(referral.PatientLocality, stored.PatientLocality);
        Assert.Equal(referral.PlannedDate, stored.PlannedDate);
        Assert.Equal(referral.RegisteredAt, stored.RegisteredAt);
        Assert.Equal(referral.History, stored.History);
        Assert.Equal(registration, Assert.Single(referrals.Registrations));
    }

    [Fact]
    public async Task The_first_results_of_remembered_requests_load_back()
    {
        var storage = await CreateStorageAsync();
        var census = new BedCensus(40, 30, 8, 5, 3, At);
        AdmissionDay[] calendar = [new(Day, 4, 1), new(Day.AddDays(1), 0, 2)];
        await storage.CommitAsync(CityCardiology, 0, Change(1, [], census: census,
            idempotency: new($"{CityHospital}/b1", "ReportBeds", "", null, At, new IdempotencyResult(Census: census))), default);
        await storage.CommitAsync(CityCardiology, 1, Change(2, [], [new(Day, 4)],
            idempotency: new($"{CityHospital}/c1", "SetAdmissionCapacity", "", null, At, new IdempotencyResult(Calendar: calendar))), default);
        await storage.CommitAsync(CityCardiology, 2, Change(3, [],
            idempotency: new($"{CityHospital}/s1", "ScheduleReferral", "75.01W9.101.1", null, At, new IdempotencyResult(EventSequence: 7))), default);
        await storage.CommitAsync(CityCardiology, 3, Change(4, [],
            idempotency: new($"{CityHospital}/old", "ReportBeds", "", null, At)), default);

        var loaded = (await storage.LoadAsync(CityCardiology, At.AddDays(-7), default))!.Idempotency.ToDictionary(r => r.Key, r => r.Result);

        Assert.Equal(census, loaded[$"{CityHospital}/b1"]!.Census);
        Assert.Equal(calendar, loaded[$"{CityHospital}/c1"]!.Calendar);
        Assert.Equal(7, loaded[$"{CityHospital}/s1"]!.EventSequence);
        Assert.Null(loaded[$"{CityHospital}/old"]); // a request remembered without its result (from before results were kept)
    }

    [Fact]
    public async Task Requests_older_than_the_grain_remembers_stay_in_storage_and_registrations_are_kept()
    {
        var storage = await CreateStorageAsync();
        var referral = NewReferral("75.01W9.101.1", 1);
        var registration = new IdempotencyRecord($"{Polyclinic}/r1", IdempotencyRecord.Registration, referral.HospitalizationCode, "a2V5", At);
        var oldReport = new IdempotencyRecord($"{CityHospital}/b1", "ReportBeds", "", null, At);
        var newReport = new IdempotencyRecord($"{CityHospital}/b2", "ReportBeds", "", null, At.AddDays(8));
        await storage.CommitAsync(CityCardiology, 0, Change(1, [referral], [new(Day, 4)], idempotency: registration), default);
        await storage.CommitAsync(CityCardiology, 1, Change(2, [], idempotency: oldReport), default);
        await storage.CommitAsync(CityCardiology, 2, Change(3, [], idempotency: newReport), default);

        var loaded = (await storage.LoadAsync(CityCardiology, At.AddDays(1), default))!;
        var referrals = await storage.LoadReferralsAsync(CityCardiology, 3, default);

        Assert.Equal(newReport, Assert.Single(loaded.Idempotency));
        Assert.Equal(registration, Assert.Single(referrals.Registrations));
    }

    [Fact]
    public async Task The_snapshot_counts_only_active_referrals_per_planned_date()
    {
        var storage = await CreateStorageAsync();
        await storage.CommitAsync(CityCardiology, 0, Change(1,
            [NewReferral("75.01W9.101.1", 1), NewReferral("75.01W9.101.2", 2), NewReferral("75.01W9.101.3", 3, ReferralStatus.Scheduled, Day.AddDays(2)),
             NewReferral("75.01W9.101.4", 4, ReferralStatus.Cancelled), NewReferral("75.01W9.101.5", 5, ReferralStatus.Admitted, Day.AddDays(3))],
            [new(Day, 4), new(Day.AddDays(2), 1), new(Day.AddDays(3), 1)]), default);

        var loaded = (await storage.LoadAsync(CityCardiology, At.AddDays(-7), default))!;

        Assert.Equal(new Dictionary<DateOnly, int> { [Day] = 2, [Day.AddDays(2)] = 1 }, loaded.ActiveByDate);
    }

    [Fact]
    public async Task Due_referrals_are_the_active_ones_planned_by_the_date_of_the_grain_without_registrations_and_conflict_once_it_moved()
    {
        var storage = await CreateStorageAsync();
        var registration = new IdempotencyRecord($"{Polyclinic}/r1", IdempotencyRecord.Registration, "75.01W9.101.1", "a2V5", At);
        await storage.CommitAsync(CityCardiology, 0, Change(1,
            [NewReferral("75.01W9.101.1", 1, planned: Day.AddDays(-1)), NewReferral("75.01W9.101.2", 2, ReferralStatus.Scheduled, Day),
             NewReferral("75.01W9.101.3", 3, planned: Day.AddDays(1)), NewReferral("75.01W9.101.4", 4, ReferralStatus.Admitted, Day),
             NewReferral("75.01W9.101.5", 5, ReferralStatus.NoShow, Day.AddDays(-2))], idempotency: registration), default);
        var otherGrain = new BedGrainKey(DistrictHospital, Cardiology);
        await storage.CommitAsync(otherGrain, 0, Change(2, [NewReferral("75.02AB.101.1", 1, planned: Day.AddDays(-1)) with { HospitalId = DistrictHospital }]), default);

        var due = await storage.LoadDueReferralsAsync(CityCardiology, 1, Day, default);

        Assert.Equal(["75.01W9.101.1", "75.01W9.101.2"], due.Referrals.Select(r => r.HospitalizationCode).Order());
        Assert.Empty(due.Registrations);
        Assert.Empty((await storage.LoadDueReferralsAsync(CityCardiology, 1, Day.AddDays(-2), default)).Referrals);
        await storage.CommitAsync(CityCardiology, 1, Change(3, [NewReferral("75.01W9.101.6", 6)]), default);
        await Assert.ThrowsAsync<StorageConflictException>(() => storage.LoadDueReferralsAsync(CityCardiology, 1, Day, default));
    }

    [Fact]
    public async Task Referrals_asked_for_at_a_version_no_longer_stored_conflict()
    {
        var storage = await CreateStorageAsync();
        await storage.CommitAsync(CityCardiology, 0, Change(1, [NewReferral("75.01W9.101.1", 1)]), default);
        var loaded = (await storage.LoadAsync(CityCardiology, At.AddDays(-7), default))!;
        await storage.CommitAsync(CityCardiology, 1, Change(2, [NewReferral("75.01W9.101.2", 2)]), default);

        await Assert.ThrowsAsync<StorageConflictException>(() => storage.LoadReferralsAsync(CityCardiology, loaded.Version, default));
        Assert.Equal(2, (await storage.LoadReferralsAsync(CityCardiology, 2, default)).Referrals.Count);
    }

    /// <summary>
    /// After a restart every grain activates at once: loads that arrive together (an adapter may
    /// answer them in one batch) each get their own grain's state, a grain never stored gets
    /// nothing, and a referrals load at a version no longer stored fails alone.
    /// </summary>
    [Fact]
    public async Task Loads_of_many_grains_at_once_each_get_their_own_state()
    {
        var storage = await CreateStorageAsync();
        var keys = Enumerable.Range(0, 40).Select(i => new BedGrainKey(CityHospital, $"P{i:00}")).ToArray();
        for (var i = 0; i < keys.Length; i++)
        {
            var referrals = Enumerable.Range(1, i % 3).Select(n => NewReferral($"75.01W9.P{i:00}.{n}", n) with { ProfileCode = keys[i].ProfileCode }).ToArray();
            var report = new IdempotencyRecord($"{CityHospital}/b{i}", "ReportBeds", "", null, At);
            await storage.CommitAsync(keys[i], 0, Change(1, referrals, [new(Day, i + 1)], new BedCensus(i + 10, i, 10, 0, 0, At), report), default);
        }

        var moved = 7;
        await storage.CommitAsync(keys[moved], 1, Change(2, []), default);

        var snapshots = await Task.WhenAll(keys.Append(new BedGrainKey(CityHospital, "P99")).Select(k => storage.LoadAsync(k, At.AddDays(-7), default)));
        var referralLoads = keys.Select(k => storage.LoadReferralsAsync(k, 1, default)).ToArray();

        Assert.Null(snapshots[^1]);
        for (var i = 0; i < keys.Length; i++)
        {
            var snapshot = snapshots[i]!;
            Assert.Equal(i == moved ? 2 : 1, snapshot.Version);
            Assert.Equal(i + 10, snapshot.Census!.Total);
            Assert.Equal(new CalendarSlots(Day, i + 1), Assert.Single(snapshot.Calendar));
            Assert.Equal(i % 3 == 0 ? [] : new Dictionary<DateOnly, int> { [Day] = i % 3 }, snapshot.ActiveByDate);
            Assert.Equal($"{CityHospital}/b{i}", Assert.Single(snapshot.Idempotency).Key);
            if (i == moved)
            {
                await Assert.ThrowsAsync<StorageConflictException>(() => referralLoads[i]);
                continue;
            }

            var loaded = await referralLoads[i];
            Assert.Equal(i % 3, loaded.Referrals.Count);
            Assert.All(loaded.Referrals, r => Assert.Equal(keys[i].ProfileCode, r.ProfileCode));
            Assert.Empty(loaded.Registrations);
        }
    }

    [Fact]
    public async Task Later_commits_apply_as_deltas()
    {
        var storage = await CreateStorageAsync();
        var first = NewReferral("75.01W9.101.1", 1);
        await storage.CommitAsync(CityCardiology, 0, Change(1, [first], [new(Day, 4)]), default);

        var admitted = first with { Status = ReferralStatus.Admitted, AdmittedAt = At.AddDays(1) };
        await storage.CommitAsync(CityCardiology, 1, Change(2, [admitted, NewReferral("75.01W9.101.2", 2)], [new(Day.AddDays(1), 3)]), default);
        var loaded = (await storage.LoadAsync(CityCardiology, At.AddDays(-7), default))!;
        var referrals = (await storage.LoadReferralsAsync(CityCardiology, 2, default)).Referrals;

        Assert.Equal(2, loaded.Version);
        Assert.Equal(2, loaded.Calendar.Count);
        Assert.Equal(ReferralStatus.Admitted, referrals.Single(r => r.HospitalizationCode == first.HospitalizationCode).Status);
        Assert.Equal(2, referrals.Count);
    }

    [Fact]
    public async Task Referral_changes_after_an_event_are_the_referrals_the_later_events_of_the_grain_name_each_once_as_stored_now()
    {
        var storage = await CreateStorageAsync();
        var first = NewReferral("75.01W9.101.1", 1);
        var second = NewReferral("75.01W9.101.2", 2);
        var third = NewReferral("75.01W9.101.3", 3);
        await storage.CommitAsync(CityCardiology, 0, Change(1, [first]), default); // event 100
        await storage.CommitAsync(CityCardiology, 1, Change(2, [second]), default); // event 200
        await storage.CommitAsync(CityCardiology, 2, Change(3, [third]), default); // event 300
        var scheduled = first with { Status = ReferralStatus.Scheduled, History = [.. first.History, first.History[0] with { Sequence = 400, Status = ReferralStatus.Scheduled }] };
        await storage.CommitAsync(CityCardiology, 3, Change(4, [scheduled]), default); // event 400
        var otherGrain = new BedGrainKey(DistrictHospital, Cardiology);
        await storage.CommitAsync(otherGrain, 0, Change(5, [NewReferral("75.02AB.101.1", 1) with { HospitalId = DistrictHospital }]), default); // event 500, another grain

        var changed = (await storage.LoadReferralChangesAsync(CityCardiology, 4, 250, default)).Referrals;

        Assert.Equal([scheduled.HospitalizationCode, third.HospitalizationCode], changed.Select(r => r.HospitalizationCode).Order());
        Assert.Equal(ReferralStatus.Scheduled, changed.Single(r => r.HospitalizationCode == scheduled.HospitalizationCode).Status); // as stored now
        Assert.Equal(2, changed.Single(r => r.HospitalizationCode == scheduled.HospitalizationCode).History.Count);
        Assert.Equal([first.HospitalizationCode, second.HospitalizationCode, third.HospitalizationCode],
            (await storage.LoadReferralChangesAsync(CityCardiology, 4, 0, default)).Referrals.Select(r => r.HospitalizationCode).Order()); // the first once
        Assert.Empty((await storage.LoadReferralChangesAsync(CityCardiology, 4, 400, default)).Referrals);
    }

    [Fact]
    public async Task Referral_changes_at_a_version_give_the_changed_referrals_with_every_registration_and_conflict_once_it_moved()
    {
        var storage = await CreateStorageAsync();
        var first = NewReferral("75.01W9.101.1", 1);
        var second = NewReferral("75.01W9.101.2", 2);
        var firstRegistration = new IdempotencyRecord($"{Polyclinic}/r1", IdempotencyRecord.Registration, first.HospitalizationCode, "a2V5", At);
        var secondRegistration = new IdempotencyRecord($"{Polyclinic}/r2", IdempotencyRecord.Registration, second.HospitalizationCode, "a2V6", At);
        await storage.CommitAsync(CityCardiology, 0, Change(1, [first], idempotency: firstRegistration), default); // event 100
        await storage.CommitAsync(CityCardiology, 1, Change(2, [second], idempotency: secondRegistration), default); // event 200

        var changes = await storage.LoadReferralChangesAsync(CityCardiology, 2, 100, default);

        Assert.Equal(second.HospitalizationCode, Assert.Single(changes.Referrals).HospitalizationCode);
        Assert.Equal([firstRegistration.Key, secondRegistration.Key], changes.Registrations.Select(r => r.Key).Order());
        await Assert.ThrowsAsync<StorageConflictException>(() => storage.LoadReferralChangesAsync(CityCardiology, 1, 100, default));
    }

    [Fact]
    public async Task A_commit_against_a_stale_version_conflicts_and_writes_nothing()
    {
        var storage = await CreateStorageAsync();
        await storage.CommitAsync(CityCardiology, 0, Change(1, [NewReferral("75.01W9.101.1", 1)]), default);

        await Assert.ThrowsAsync<StorageConflictException>(() =>
            storage.CommitAsync(CityCardiology, 0, Change(1, [NewReferral("75.01W9.101.2", 2)]), default));

        var loaded = (await storage.LoadAsync(CityCardiology, At.AddDays(-7), default))!;
        Assert.Equal(1, loaded.Version);
        Assert.Single((await storage.LoadReferralsAsync(CityCardiology, 1, default)).Referrals);
    }

    [Fact]
    public async Task Summaries_count_active_reservations_and_holds()
    {
        var storage = await CreateStorageAsync();
        await storage.CommitAsync(CityCardiology, 0, Change(1,
            [NewReferral("75.01W9.101.1", 1), NewReferral("75.01W9.101.2", 2, ReferralStatus.Cancelled), NewReferral("75.01W9.101.3", 3, planned: Day.AddDays(2))],
            [new(Day, 4), new(Day.AddDays(2), 1)]), default);

        var summaries = new List<BedGrainSummary>();
        await foreach (var summary in storage.ReadSummariesAsync(Day, default))
        {
            summaries.Add(summary);
        }

        var only = Assert.Single(summaries);
        Assert.Equal(CityCardiology, only.Key);
        Assert.Equal(2, only.QueueLength);
        Assert.Equal(Day, only.EarliestPlannedDate);
        Assert.Equal([new AdmissionDay(Day, 4, 1), new AdmissionDay(Day.AddDays(2), 1, 1)], only.Calendar);
        Assert.Equal(["75.01W9.101.1", "75.01W9.101.3"], only.ActiveHolds.Select(h => h.HospitalizationCode).Order());
    }

    [Fact]
    public async Task A_grain_reactivated_from_this_storage_has_the_same_state()
    {
        var storage = await CreateStorageAsync();
        string code, accessKey;
        DateOnly planned;
        await using (var before = new TestWorld(storage))
        {
            await before.OpenCalendarAsync(CityCardiology, 3);
            planned = before.Today.AddDays(2);
            await before.RegisterAsync(CityCardiology, AdultIin(), planned);
            var result = await before.RegisterAsync(CityCardiology, AdultIin(), planned);
            (code, accessKey) = (result.View.Referral.HospitalizationCode, result.AccessKey);
            await before.Bureau.ScheduleAsync(code, City, "s", null, "");
        }

        await using var after = new TestWorld(storage);
        await after.Bureau.RecoverAsync(default);
        var view = await after.Bureau.GetForPatientAsync(code, accessKey);

        Assert.Equal((ReferralStatus.Scheduled, 2), (view.Referral.Status, view.QueuePosition));
        Assert.Equal(["REGISTERED", "SCHEDULED"], view.Referral.History.Select(e => e.Action));
        var offer = Assert.Single(after.Bureau.FreeBeds.Search(new FreeBedQuery(Cardiology, null, planned, planned, null, 10)));
        Assert.Equal(1, offer.FreeSlotsInRange);
        var next = await after.RegisterAsync(CityCardiology, AdultIin(), planned);
        Assert.EndsWith(".3", next.View.Referral.HospitalizationCode, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Two_activations_of_one_grain_cannot_both_commit()
    {
        var storage = await CreateStorageAsync();
        await using var nodeA = new TestWorld(storage);
        await using var nodeB = new TestWorld(storage);
        await nodeA.OpenCalendarAsync(CityCardiology, 1);
        var planned = nodeA.Today.AddDays(1);
        await nodeB.Bureau.CallAsync(CityCardiology, 0L, static (g, after) => g.EventsAfterAsync(after, default)); // B activates now, with its referrals

        await nodeA.RegisterAsync(CityCardiology, AdultIin(), planned, requestId: "a-1");
        await Assert.ThrowsAsync<StorageConflictException>(() => nodeB.RegisterAsync(CityCardiology, AdultIin(), planned, requestId: "b-1"));

        // B dropped its stale activation: the retry reloads and sees the slot taken.
        var error = await Assert.ThrowsAsync<DomainException>(() => nodeB.RegisterAsync(CityCardiology, AdultIin(), planned, requestId: "b-2"));
        Assert.Equal("NO_FREE_SLOT", error.Reason);
    }
}

public sealed class InMemoryBedGrainStorageTests : BedGrainStorageContractTests
{
    protected override Task<IBedGrainStorage> CreateStorageAsync() => Task.FromResult<IBedGrainStorage>(new InMemoryBedGrainStorage());
}
