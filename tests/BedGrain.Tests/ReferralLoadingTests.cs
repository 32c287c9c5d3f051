using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Runtime;
using BedBureau.BedGrain.Storage;
using static BedBureau.BedGrain.Tests.TestWorld;

namespace BedBureau.BedGrain.Tests;

/// <summary>
/// A grain activates without its referrals and loads them on its first referral operation:
/// after a restart the hospitals' reports cost a few rows, and nothing else changes.
/// </summary>
public sealed class ReferralLoadingTests
{
    /// <summary>The in-memory storage, counting the referral loads.</summary>
    private sealed class CountingStorage(InMemoryBedGrainStorage inner) : DelegatingStorage(inner)
    {
        public int ReferralLoads;

        public int ChangeLoads;

        public int DueLoads;

        public InMemoryBedGrainStorage Inner => inner;

        public override Task<BedGrainReferrals> LoadReferralChangesAsync(BedGrainKey key, long version, long eventSequence, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref ChangeLoads);
            return base.LoadReferralChangesAsync(key, version, eventSequence, cancellationToken);
        }

        public override Task<BedGrainReferrals> LoadDueReferralsAsync(BedGrainKey key, long version, DateOnly plannedBy, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref DueLoads);
            return base.LoadDueReferralsAsync(key, version, plannedBy, cancellationToken);
        }

        public override Task<BedGrainReferrals> LoadReferralsAsync(BedGrainKey key, long version, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref ReferralLoads);
            return base.LoadReferralsAsync(key, version, cancellationToken);
        }
    }

    private readonly CountingStorage _storage = new(new InMemoryBedGrainStorage());

    /// <summary>Two referrals hold both slots of tomorrow; the hospital reported its beds with request "beds-1".</summary>
    private async Task<(DateOnly Tomorrow, string[] Codes)> DayBeforeRestartAsync()
    {
        await using var before = new TestWorld(_storage);
        await before.OpenCalendarAsync(CityCardiology, 2, days: 5);
        var tomorrow = before.Today.AddDays(1);
        var codes = new[]
        {
            (await before.RegisterAsync(CityCardiology, AdultIin(), tomorrow)).View.Referral.HospitalizationCode,
            (await before.RegisterAsync(CityCardiology, AdultIin(), tomorrow)).View.Referral.HospitalizationCode,
        };
        await before.Bureau.ReportBedsAsync(CityCardiology, City, "beds-1", new BedReport(40, 30, 10, 0, 0, null));
        return (tomorrow, codes);
    }

    private async Task<TestWorld> RestartAsync()
    {
        var after = new TestWorld(_storage);
        await after.Bureau.RecoverAsync(default);
        _storage.ReferralLoads = 0;
        return after;
    }

    [Fact]
    public async Task A_grain_idle_for_the_trim_time_lets_go_of_its_referrals_stays_active_and_loads_them_again_for_a_referral_operation()
    {
        await using var world = new TestWorld(_storage, runtime: new GrainRuntimeOptions { TrimAfter = TimeSpan.FromMinutes(10), IdleTimeout = TimeSpan.FromDays(1) });
        await world.OpenCalendarAsync(CityCardiology, 2, days: 5);
        var tomorrow = world.Today.AddDays(1);
        var patient = AdultIin();
        var first = await world.RegisterAsync(CityCardiology, patient, tomorrow, requestId: "first");
        var second = await world.RegisterAsync(CityCardiology, AdultIin(), tomorrow);
        _storage.ReferralLoads = 0;

        world.Time.Advance(TimeSpan.FromMinutes(16)); // the idle sweep (synchronous on the fake clock) trims the grain

        // The day's report: the grain is still active and needs no referrals.
        await world.Bureau.ReportBedsAsync(CityCardiology, City, "beds", new BedReport(40, 30, 10, 0, 0, null));
        var (queueLength, nextWakeUp) = await world.Bureau.CallAsync(CityCardiology, 0, static (g, _) => Task.FromResult((g.QueueLength, g.NextWakeUp)));
        Assert.Equal((1L, 1L, 0), (world.Bureau.Grains.Activations, world.Bureau.Grains.Trims, _storage.ReferralLoads));
        Assert.Equal(2, queueLength);
        Assert.NotNull(nextWakeUp); // the no-shows of tomorrow's referrals stay due

        // A patient's lookup loads the referrals again, once; the queue is as it was.
        var view = await world.Bureau.GetForPatientAsync(second.View.Referral.HospitalizationCode, second.AccessKey);
        Assert.Equal((2, 1), (view.QueuePosition, _storage.ReferralLoads));

        // Their slots still count, the patient's hold stands, and a repeated registration answers its first result.
        var full = await Assert.ThrowsAsync<DomainException>(() => world.RegisterAsync(CityCardiology, AdultIin(), tomorrow));
        var twice = await Assert.ThrowsAsync<DomainException>(() => world.RegisterAsync(CityCardiology, patient, tomorrow.AddDays(1)));
        var again = await world.RegisterAsync(CityCardiology, patient, tomorrow, requestId: "first");
        Assert.Equal(("NO_FREE_SLOT", "ACTIVE_REFERRAL_EXISTS"), (full.Reason, twice.Reason));
        Assert.Equal((first.View.Referral.HospitalizationCode, first.AccessKey), (again.View.Referral.HospitalizationCode, again.AccessKey));
        Assert.Equal((1L, 1), (world.Bureau.Grains.Activations, _storage.ReferralLoads));
    }

    [Fact]
    public async Task After_a_restart_bed_reports_and_calendar_changes_leave_the_referrals_in_storage_and_still_count_their_slots()
    {
        var (tomorrow, _) = await DayBeforeRestartAsync();
        await using var world = await RestartAsync();

        var census = await world.Bureau.ReportBedsAsync(CityCardiology, City, "beds-2", new BedReport(40, 35, 5, 0, 0, null));
        var calendar = await world.Bureau.SetAdmissionCapacityAsync(CityCardiology, City, "cal-2", [new CalendarSlots(tomorrow, 3)]);
        var queueLength = await world.Bureau.CallAsync(CityCardiology, 0, static (g, _) => Task.FromResult(g.QueueLength));

        Assert.Equal(5, census.Free);
        Assert.Equal(new AdmissionDay(tomorrow, 3, 2), calendar.Single(d => d.Date == tomorrow));
        Assert.Equal(2, queueLength);
        var offer = Assert.Single(world.Bureau.FreeBeds.Search(new FreeBedQuery(Cardiology, null, tomorrow, tomorrow, null, 10)));
        Assert.Equal((1, 2), (offer.FreeSlotsInRange, offer.QueueLength));
        Assert.Equal(0, _storage.ReferralLoads);
    }

    [Fact]
    public async Task A_hospital_retry_after_a_restart_returns_the_first_result_without_the_referrals()
    {
        await DayBeforeRestartAsync();
        await using var world = await RestartAsync();

        var retried = await world.Bureau.ReportBedsAsync(CityCardiology, City, "beds-1", new BedReport(40, 39, 1, 0, 0, null));
        var reused = await Assert.ThrowsAsync<DomainException>(() =>
            world.Bureau.SetAdmissionCapacityAsync(CityCardiology, City, "beds-1", [new CalendarSlots(world.Today, 1)]));

        Assert.Equal(10, retried.Free);
        Assert.Equal("REUSED", reused.Reason);
        Assert.Equal(0, _storage.ReferralLoads);
    }

    [Fact]
    public async Task The_first_referral_operation_loads_the_referrals_once_and_sees_every_slot_held()
    {
        var (tomorrow, codes) = await DayBeforeRestartAsync();
        await using var world = await RestartAsync();
        await world.Bureau.ReportBedsAsync(CityCardiology, City, "beds-2", new BedReport(40, 35, 5, 0, 0, null));

        var full = await Assert.ThrowsAsync<DomainException>(() => world.RegisterAsync(CityCardiology, AdultIin(), tomorrow));
        var second = await world.Bureau.GetAsync(codes[1]);
        var invariants = await world.Bureau.CallAsync(CityCardiology, 0, static (g, _) => g.CheckInvariantsAsync());

        Assert.Equal("NO_FREE_SLOT", full.Reason);
        Assert.Equal(2, second.QueuePosition);
        Assert.Empty(invariants);
        Assert.Equal(1, _storage.ReferralLoads);
    }

    [Fact]
    public async Task A_grain_activated_without_its_referrals_still_marks_no_shows_on_time()
    {
        var (_, codes) = await DayBeforeRestartAsync();
        await using var world = await RestartAsync();
        await world.Bureau.ReportBedsAsync(CityCardiology, City, "beds-2", new BedReport(40, 35, 5, 0, 0, null));

        world.Time.Advance(TimeSpan.FromDays(4));

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (codes.Any(code => _storage.Inner.StoredReferral(CityCardiology, code)!.Status != ReferralStatus.NoShow))
        {
            Assert.True(DateTime.UtcNow < deadline, "the no-shows were not set within 10 s");
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task A_grain_without_its_referrals_in_memory_reads_only_the_due_ones_to_mark_its_no_shows()
    {
        string patient, later;
        string[] due;
        await using (var before = new TestWorld(_storage))
        {
            await before.OpenCalendarAsync(CityCardiology, 2, days: 10);
            var tomorrow = before.Today.AddDays(1);
            patient = AdultIin();
            due =
            [
                (await before.RegisterAsync(CityCardiology, patient, tomorrow)).View.Referral.HospitalizationCode,
                (await before.RegisterAsync(CityCardiology, AdultIin(), tomorrow)).View.Referral.HospitalizationCode,
            ];
            later = (await before.RegisterAsync(CityCardiology, AdultIin(), tomorrow.AddDays(5))).View.Referral.HospitalizationCode;
        }

        await using var world = await RestartAsync();

        // Four days on, tomorrow's referrals are due: the recovered wake-up activates the grain.
        world.Time.Advance(TimeSpan.FromDays(4));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (due.Any(code => _storage.Inner.StoredReferral(CityCardiology, code)!.Status != ReferralStatus.NoShow))
        {
            Assert.True(DateTime.UtcNow < deadline, "the no-shows were not set within 10 s");
            await Task.Delay(10);
        }

        var queueLength = await world.Bureau.CallAsync(CityCardiology, 0, static (g, _) => Task.FromResult(g.QueueLength));
        Assert.Equal((0, 1, 1), (_storage.ReferralLoads, _storage.DueLoads, queueLength));
        Assert.Equal(ReferralStatus.Registered, _storage.Inner.StoredReferral(CityCardiology, later)!.Status);

        // The queue, once read, agrees; the no-show's patient holds nothing and may be referred again.
        Assert.Equal(1, (await world.Bureau.GetAsync(later)).QueuePosition);
        Assert.Empty(await world.Bureau.CallAsync(CityCardiology, 0, static (g, _) => g.CheckInvariantsAsync()));
        var again = await world.RegisterAsync(CityCardiology, patient, world.Today.AddDays(3)); // after the later one
        Assert.Equal(2, again.View.QueuePosition);
    }

    [Fact]
    public async Task Referrals_committed_by_another_node_since_activation_are_read_by_a_fresh_activation_before_the_call_goes_on()
    {
        var (tomorrow, _) = await DayBeforeRestartAsync();
        await using var nodeA = await RestartAsync();
        await using var nodeB = new TestWorld(_storage);
        await nodeA.Bureau.ReportBedsAsync(CityCardiology, City, "beds-2", new BedReport(40, 35, 5, 0, 0, null)); // A active, referrals not read

        await nodeB.Bureau.SetAdmissionCapacityAsync(CityCardiology, City, "cal-b", [new CalendarSlots(tomorrow, 4)]);
        var fromB = await nodeB.RegisterAsync(CityCardiology, AdultIin(), tomorrow, requestId: "b-1");

        // A's activation (tomorrow: 2 slots, both taken) is stale when it reads the referrals: the
        // call runs on a fresh one, which knows B's calendar and referral (4 slots, 3 taken).
        var fromA = await nodeA.RegisterAsync(CityCardiology, AdultIin(), tomorrow, requestId: "a-1");
        Assert.Equal(4, fromA.View.QueuePosition);
        Assert.Equal(ReferralStatus.Registered, (await nodeA.Bureau.GetAsync(fromB.View.Referral.HospitalizationCode)).Referral.Status);
        var full = await Assert.ThrowsAsync<DomainException>(() => nodeA.RegisterAsync(CityCardiology, AdultIin(), tomorrow, requestId: "a-2"));
        Assert.Equal("NO_FREE_SLOT", full.Reason);
    }

    [Fact]
    public async Task An_activation_holding_its_referrals_catches_up_with_another_nodes_commits_reading_only_the_changed_ones()
    {
        await using var nodeA = new TestWorld(_storage);
        await using var nodeB = new TestWorld(_storage);
        await nodeA.OpenCalendarAsync(CityCardiology, 3, days: 5);
        var tomorrow = nodeA.Today.AddDays(1);
        var first = (await nodeA.RegisterAsync(CityCardiology, AdultIin(), tomorrow)).View.Referral.HospitalizationCode;
        var second = (await nodeA.RegisterAsync(CityCardiology, AdultIin(), tomorrow)).View.Referral.HospitalizationCode;
        await nodeB.Bureau.CallAsync(CityCardiology, 0, static (g, _) => ListAsync(g)); // B holds both
        _storage.ReferralLoads = 0;

        // Through A: a registration, a cancellation and a day's slots.
        var patient = AdultIin();
        var added = await nodeA.RegisterAsync(CityCardiology, patient, tomorrow, requestId: "a-new");
        await nodeA.Bureau.CancelAsync(second, Clinic, "a-cancel", CancellationReason.PatientRequest, "");
        await nodeA.Bureau.SetAdmissionCapacityAsync(CityCardiology, City, "a-cal", [new CalendarSlots(tomorrow, 4)]);
        var version = await nodeA.Bureau.CallAsync(CityCardiology, 0, static (g, _) => Task.FromResult(g.Version));

        await nodeB.Bureau.RefreshAsync(CityCardiology, version);

        // B read the changes alone, and holds what a full load would give.
        Assert.Equal((0, 1), (_storage.ReferralLoads, _storage.ChangeLoads));
        await using var fresh = new TestWorld(_storage);
        var expected = await fresh.Bureau.CallAsync(CityCardiology, 0, static (g, _) => ListAsync(g));
        var onB = await nodeB.Bureau.CallAsync(CityCardiology, 0, static (g, _) => ListAsync(g));
        Assert.Equal(1, _storage.ReferralLoads); // the fresh world's load; B's list came from memory
        Assert.Equal(expected, onB);
        Assert.Equal([(first, ReferralStatus.Registered), (second, ReferralStatus.Cancelled), (added.View.Referral.HospitalizationCode, ReferralStatus.Registered)], onB.Select(r => (r.Code, r.Status)));
        Assert.Equal(version, await nodeB.Bureau.CallAsync(CityCardiology, 0, static (g, _) => Task.FromResult(g.Version)));

        // A's registration retried through B answers its first result: its record came with the changes.
        var retry = await nodeB.RegisterAsync(CityCardiology, patient, tomorrow, requestId: "a-new");
        Assert.Equal(added.View.Referral.HospitalizationCode, retry.View.Referral.HospitalizationCode);
        Assert.Equal(added.AccessKey, retry.AccessKey);

        // Tomorrow: 4 slots (A's change), 2 active: B takes two more, then none.
        await nodeB.RegisterAsync(CityCardiology, AdultIin(), tomorrow, requestId: "b-1");
        await nodeB.RegisterAsync(CityCardiology, AdultIin(), tomorrow, requestId: "b-2");
        var full = await Assert.ThrowsAsync<DomainException>(() => nodeB.RegisterAsync(CityCardiology, AdultIin(), tomorrow, requestId: "b-3"));
        Assert.Equal("NO_FREE_SLOT", full.Reason);
        Assert.Equal(1, _storage.ReferralLoads); // still none by B
    }

    /// <summary>Every referral the grain holds: code, status, planned date and place in the queue, in code order.</summary>
    private static async Task<List<(string Code, ReferralStatus Status, DateOnly Planned, int Position)>> ListAsync(BedProfileGrain grain)
    {
        var views = await grain.ListQueueAsync(new QueueFilter(new HashSet<ReferralStatus>(Enum.GetValues<ReferralStatus>()), null, null), default);
        return [.. views.Select(v => (v.Referral.HospitalizationCode, v.Referral.Status, v.Referral.PlannedDate, v.QueuePosition)).OrderBy(v => v.HospitalizationCode, StringComparer.Ordinal)];
    }
}
