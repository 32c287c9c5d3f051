using BedBureau.BedGrain.Domain;
using static BedBureau.BedGrain.Tests.TestWorld;

namespace BedBureau.BedGrain.Tests;

public sealed class FreeBedIndexTests : IAsyncLifetime
{
    private readonly TestWorld _world = new();
    private static readonly BedGrainKey DistrictCardiology = new(DistrictHospital, Cardiology);

    public async Task InitializeAsync()
    {
        // The district hospital opens from the day after tomorrow, the city hospital from tomorrow.
        await _world.Bureau.SetAdmissionCapacityAsync(CityCardiology, City, "c", [new(_world.Today.AddDays(1), 1), new(_world.Today.AddDays(4), 2)]);
        await _world.Bureau.SetAdmissionCapacityAsync(DistrictCardiology, new Actor(DistrictHospital, ActorRole.Hospital), "d", [new(_world.Today.AddDays(2), 3)]);
        await _world.Bureau.ReportBedsAsync(CityCardiology, City, "b", new BedReport(50, 40, 10, 0, 0, null));
    }

    public async Task DisposeAsync() => await _world.DisposeAsync();

    private IReadOnlyList<FreeBedOffer> Search(string? region = null, int fromDays = 0, int toDays = 30, bool? child = null) =>
        _world.Bureau.FreeBeds.Search(new FreeBedQuery(Cardiology, region, _world.Today.AddDays(fromDays), _world.Today.AddDays(toDays), child, 50));

    [Fact]
    public async Task Bed_counts_are_told_apart_as_fresh_stale_or_never_reported()
    {
        var freshAtFirst = _world.Bureau.FreeBeds.CensusFreshness();
        _world.Time.Advance(_world.Bureau.Options.StaleAfter + TimeSpan.FromMinutes(1));
        var stale = _world.Bureau.FreeBeds.CensusFreshness();
        await _world.Bureau.ReportBedsAsync(CityCardiology, City, "again", new BedReport(50, 41, 9, 0, 0, null));

        // The city hospital reported, the district hospital only opened its calendar.
        Assert.Equal((1, 0, 1), freshAtFirst);
        Assert.Equal((0, 1, 1), stale);
        Assert.Equal((1, 0, 1), _world.Bureau.FreeBeds.CensusFreshness());
    }

    [Fact]
    public void Results_are_ordered_by_earliest_free_date()
    {
        var offers = Search();

        Assert.Equal([CityHospital, DistrictHospital], offers.Select(o => o.Hospital.Id));
        Assert.Equal(_world.Today.AddDays(1), offers[0].EarliestFreeDate);
        Assert.Equal(3, offers[0].FreeSlotsInRange);
    }

    [Fact]
    public async Task A_reservation_updates_the_index_at_once()
    {
        await _world.RegisterAsync(CityCardiology, AdultIin(), _world.Today.AddDays(1));

        var offers = Search();

        Assert.Equal([DistrictHospital, CityHospital], offers.Select(o => o.Hospital.Id));
        Assert.Equal(_world.Today.AddDays(4), offers.Single(o => o.Hospital.Id == CityHospital).EarliestFreeDate);
    }

    [Fact]
    public async Task A_moved_or_ended_reservation_frees_its_old_date_and_takes_the_new_one()
    {
        var code = (await _world.RegisterAsync(CityCardiology, AdultIin(), _world.Today.AddDays(1))).View.Referral.HospitalizationCode;

        await _world.Bureau.RescheduleAsync(code, Clinic, "m", _world.Today.AddDays(4), "patient asked");
        var afterMove = Search().Single(o => o.Hospital.Id == CityHospital);
        await _world.Bureau.CancelAsync(code, Clinic, "c", CancellationReason.PatientRequest, "");
        var afterCancel = Search().Single(o => o.Hospital.Id == CityHospital);

        Assert.Equal((_world.Today.AddDays(1), 2), (afterMove.EarliestFreeDate, afterMove.FreeSlotsInRange));
        Assert.Equal((_world.Today.AddDays(1), 3), (afterCancel.EarliestFreeDate, afterCancel.FreeSlotsInRange));
    }

    [Fact]
    public async Task Slots_lowered_below_reservations_show_no_free_slot_that_day()
    {
        await _world.RegisterAsync(CityCardiology, AdultIin(), _world.Today.AddDays(4));
        await _world.Bureau.SetAdmissionCapacityAsync(CityCardiology, City, "lower", [new(_world.Today.AddDays(4), 0), new(_world.Today.AddDays(1), 0)]);

        Assert.Equal([DistrictHospital], Search().Select(o => o.Hospital.Id));
    }

    [Fact]
    public void Only_the_first_results_are_returned_and_they_are_the_earliest()
    {
        var offers = _world.Bureau.FreeBeds.Search(new FreeBedQuery(Cardiology, null, _world.Today, _world.Today.AddDays(30), null, 1));

        Assert.Equal(CityHospital, Assert.Single(offers).Hospital.Id);
        Assert.Empty(_world.Bureau.FreeBeds.Search(new FreeBedQuery(Cardiology, null, _world.Today.AddDays(5), _world.Today.AddDays(1), null, 10)));
    }

    [Fact]
    public void Region_and_date_range_filter_the_results()
    {
        Assert.Equal([DistrictHospital], Search(region: "61").Select(o => o.Hospital.Id));
        Assert.Equal([DistrictHospital], Search(fromDays: 2, toDays: 3).Select(o => o.Hospital.Id));
        Assert.Empty(Search(fromDays: 5));
    }

    [Fact]
    public void An_adult_profile_is_never_offered_to_a_child_search()
    {
        Assert.Empty(Search(child: true));
        Assert.Equal(2, Search(child: false).Count);
    }

    [Fact]
    public void Each_offer_carries_its_census_freshness()
    {
        var offers = Search();

        Assert.False(offers.Single(o => o.Hospital.Id == CityHospital).CensusStale);
        Assert.True(offers.Single(o => o.Hospital.Id == DistrictHospital).CensusStale); // never reported
        _world.Time.Advance(TimeSpan.FromHours(25));
        Assert.True(Search().Single(o => o.Hospital.Id == CityHospital).CensusStale);
    }

    [Fact]
    public async Task Recovery_rebuilds_the_index_and_the_patient_rule_from_storage()
    {
        var iin = AdultIin();
        await _world.RegisterAsync(CityCardiology, iin, _world.Today.AddDays(1));

        await using var restarted = new TestWorld(_world.Storage, _world.Time);
        var grains = await restarted.Bureau.RecoverAsync(default);

        Assert.Equal(2, grains);
        Assert.Equal(Search().Select(o => (o.Hospital.Id, o.EarliestFreeDate, o.FreeSlotsInRange)),
            restarted.Bureau.FreeBeds.Search(new FreeBedQuery(Cardiology, null, _world.Today, _world.Today.AddDays(30), null, 50)).Select(o => (o.Hospital.Id, o.EarliestFreeDate, o.FreeSlotsInRange)));
        var error = await Assert.ThrowsAsync<DomainException>(() => restarted.RegisterAsync(DistrictCardiology, iin, _world.Today.AddDays(2), requestId: "again"));
        Assert.Equal("ACTIVE_REFERRAL_EXISTS", error.Reason);
    }

    [Fact]
    public void A_hospitals_free_days_are_summed_over_the_range_however_far_its_window_has_grown()
    {
        var entry = new FreeBedIndex.Entry(new Hospital("H", "hospital", "75", new HashSet<string> { "101" }));
        var today = _world.Today.DayNumber;
        Assert.Equal((0, 0), entry.FreeIn(today, today + 30));

        entry.SetFree(today + 3, 2);
        entry.SetFree(today + 200, 5); // past the window: it grows forward
        entry.SetFree(today - 30, 7);  // before it: it grows back
        entry.SetFree(today + 40, 1);
        entry.SetFree(today + 3, 4);   // changed in place

        Assert.Equal((today + 3, 4), entry.FreeIn(today, today + 30));
        Assert.Equal((today + 3, 5), entry.FreeIn(today, today + 40));
        Assert.Equal((today - 30, 17), entry.FreeIn(today - 100, today + 300));
        Assert.Equal((today + 200, 5), entry.FreeIn(today + 41, today + 200));
        Assert.Equal((0, 0), entry.FreeIn(today + 4, today + 39));
        Assert.Equal((0, 0), entry.FreeIn(today + 500, today + 600));
    }
}
