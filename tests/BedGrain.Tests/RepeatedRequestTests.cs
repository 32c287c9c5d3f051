using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Runtime;
using BedBureau.BedGrain.Storage;
using static BedBureau.BedGrain.Tests.TestWorld;

namespace BedBureau.BedGrain.Tests;

/// <summary>
/// A repeated request returns its first result even after later changes have moved on, in a grain
/// that stayed active and in one reactivated from storage.
/// </summary>
public sealed class RepeatedRequestTests : IAsyncDisposable
{
    private TestWorld _world = null!;

    public ValueTask DisposeAsync() => _world.DisposeAsync();

    /// <summary>A world whose grains go idle after 10 minutes, or stay active through the test.</summary>
    private void Start(bool reactivate) =>
        _world = new(runtime: new GrainRuntimeOptions { IdleTimeout = reactivate ? TimeSpan.FromMinutes(10) : TimeSpan.FromDays(30) });

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_repeated_bed_report_returns_the_census_it_set_not_a_later_one(bool reactivate)
    {
        Start(reactivate);
        var first = await _world.Bureau.ReportBedsAsync(CityCardiology, City, "b1", new BedReport(40, 30, 10, 0, 0, null));
        _world.Time.Advance(TimeSpan.FromHours(1));
        await _world.Bureau.ReportBedsAsync(CityCardiology, City, "b2", new BedReport(40, 38, 2, 0, 0, null));
        await ReactivateIf(reactivate);

        var again = await _world.Bureau.ReportBedsAsync(CityCardiology, City, "b1", new BedReport(40, 30, 10, 0, 0, null));

        Assert.Equal(first, again);
        Assert.Equal(2, (await Grain(static g => g.Census))!.Free); // the later report stands
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_repeated_capacity_change_returns_the_calendar_it_left_not_a_later_one(bool reactivate)
    {
        Start(reactivate);
        var tomorrow = _world.Today.AddDays(1);
        var first = await _world.Bureau.SetAdmissionCapacityAsync(CityCardiology, City, "c1", [new CalendarSlots(tomorrow, 5)]);
        await _world.Bureau.SetAdmissionCapacityAsync(CityCardiology, City, "c2", [new CalendarSlots(tomorrow, 1), new CalendarSlots(tomorrow.AddDays(1), 3)]);
        await ReactivateIf(reactivate);

        var again = await _world.Bureau.SetAdmissionCapacityAsync(CityCardiology, City, "c1", [new CalendarSlots(tomorrow, 5)]);

        Assert.Equal([new AdmissionDay(tomorrow, 5, 0)], again);
        Assert.Equal(first, again);
        Assert.Equal(1, (await Grain(g => g.CalendarFrom(tomorrow)))[0].Slots); // the later change stands
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_repeated_registration_returns_the_referral_as_registered_after_the_hospital_scheduled_it(bool reactivate)
    {
        Start(reactivate);
        await _world.OpenCalendarAsync(CityCardiology, 5);
        var first = await _world.RegisterAsync(CityCardiology, AdultIin(), _world.Today.AddDays(5), requestId: "r1");
        var code = first.View.Referral.HospitalizationCode;
        _world.Time.Advance(TimeSpan.FromHours(2));
        await _world.Bureau.ScheduleAsync(code, City, "s1", null, "");
        await ReactivateIf(reactivate);

        var again = await _world.RegisterAsync(CityCardiology, AdultIin(), _world.Today.AddDays(5), requestId: "r1");

        Assert.Equal(first.AccessKey, again.AccessKey);
        AssertSameReferral(first.View.Referral, again.View.Referral);
        Assert.Equal(1, again.View.QueuePosition);
        Assert.Equal(ReferralStatus.Scheduled, (await _world.Bureau.GetAsync(code)).Referral.Status);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_repeated_change_returns_the_referral_as_that_change_left_it_with_its_deadline_then(bool reactivate)
    {
        Start(reactivate);
        // Monday: registered (due end of Wednesday); Tuesday: the polyclinic moves the date (due end
        // of Thursday); Wednesday: the hospital confirms; Thursday: the polyclinic moves it again
        // (due end of Monday); then the patient is admitted.
        await _world.OpenCalendarAsync(CityCardiology, 5);
        var registered = await _world.RegisterAsync(CityCardiology, AdultIin(), _world.Today.AddDays(10));
        var code = registered.View.Referral.HospitalizationCode;
        _world.Time.Advance(TimeSpan.FromDays(1));
        var moved = await _world.Bureau.RescheduleAsync(code, Clinic, "m1", _world.Today.AddDays(11), "patient's request");
        _world.Time.Advance(TimeSpan.FromDays(1));
        var confirmed = await _world.Bureau.ScheduleAsync(code, City, "s1", null, "");
        _world.Time.Advance(TimeSpan.FromDays(1));
        await _world.Bureau.RescheduleAsync(code, Clinic, "m2", _world.Today.AddDays(12), "patient's request again");
        await _world.Bureau.ScheduleAsync(code, City, "s2", null, "");
        await _world.Bureau.AdmitAsync(code, City, "a1", null);
        await ReactivateIf(reactivate);

        var movedAgain = await _world.Bureau.RescheduleAsync(code, Clinic, "m1", _world.Today.AddDays(11), "patient's request");
        var confirmedAgain = await _world.Bureau.ScheduleAsync(code, City, "s1", null, "");

        Assert.NotEqual(registered.View.Referral.ScheduleDueAt, moved.Referral.ScheduleDueAt);
        AssertSameReferral(moved.Referral, movedAgain.Referral);
        AssertSameReferral(confirmed.Referral, confirmedAgain.Referral);
        Assert.Equal(0, confirmedAgain.QueuePosition); // the place in the queue is today's: admitted, none
        var current = (await _world.Bureau.GetAsync(code)).Referral;
        Assert.Equal(ReferralStatus.Admitted, current.Status);
        Assert.Equal(6, current.History.Count); // the repetitions added no event
    }

    private static void AssertSameReferral(Referral expected, Referral actual)
    {
        Assert.Equal(expected with { History = [], AccessKeyHash = [] }, actual with { History = [], AccessKeyHash = [] });
        Assert.Equal(expected.History, actual.History);
        Assert.Equal(expected.AccessKeyHash, actual.AccessKeyHash);
    }

    private Task<T> Grain<T>(Func<BedProfileGrain, T> read) => _world.Bureau.CallAsync(CityCardiology, read, static (g, r) => Task.FromResult(r(g)));

    private async Task ReactivateIf(bool reactivate)
    {
        if (!reactivate)
        {
            return;
        }

        var activations = _world.Bureau.Grains.Activations;
        _world.Time.Advance(TimeSpan.FromMinutes(16));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (_world.Bureau.Grains.ActivationCount != 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the idle grain did not deactivate");
            await Task.Delay(10);
        }

        Assert.Equal(activations, _world.Bureau.Grains.Activations);
    }
}
