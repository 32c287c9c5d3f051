using BedBureau.HospitalAdapter.Input;
using BedBureau.HospitalAdapter.Push;

namespace BedBureau.HospitalAdapter.Tests;

public sealed class PushPlanTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 23, 7, 30, 0, TimeSpan.FromHours(5));

    private static HospitalExport Export(int free = 5, DateTimeOffset? at = null, int slots = 4) => new(
        [new BedCount("101", 10, 5, free, 0, 0, at ?? At, "x"), new BedCount("103", 20, 10, 10, 5, 5, at ?? At, "y")],
        [new ProfileCalendar("101", [new CalendarDay(new DateOnly(2026, 11, 24), slots), new CalendarDay(new DateOnly(2026, 11, 25), 4)])]);

    [Fact]
    public void Builds_one_report_of_all_profiles_and_one_calendar_call_per_profile()
    {
        var plan = PushPlan.Build(Export(), "01W9", "01W9");

        Assert.Equal(2, plan.CallCount);
        Assert.Equal(["101", "103"], plan.Beds!.Reports.Select(r => r.BedProfileCode));
        Assert.Equal("01W9", plan.Beds.HospitalId);
        Assert.Equal(At, plan.Beds.Reports[1].ReportedAt.ToDateTimeOffset());
        Assert.Equal((5, 5), (plan.Beds.Reports[1].FreeMale, plan.Beds.Reports[1].FreeFemale));
        var calendar = Assert.Single(plan.Calendars);
        Assert.Equal([(2026, 11, 24, 4), (2026, 11, 25, 4)], calendar.Days.Select(d => (d.Date.Year, d.Date.Month, d.Date.Day, d.Slots)));
    }

    [Fact]
    public void The_same_export_always_gets_the_same_request_ids()
    {
        var first = PushPlan.Build(Export(), "01W9", "01W9");
        var again = PushPlan.Build(Export(), "01W9", "01W9");

        Assert.Equal(first.Beds!.RequestId, again.Beds!.RequestId);
        Assert.Equal(first.Calendars[0].RequestId, again.Calendars[0].RequestId);
        Assert.Matches("^his-[0-9a-f]{32}$", first.Beds.RequestId);
    }

    [Fact]
    public void Another_count_time_hospital_or_calendar_gets_another_request_id()
    {
        var ids = new[]
        {
            PushPlan.Build(Export(), "01W9", "01W9"),
            PushPlan.Build(Export(free: 4), "01W9", "01W9"),
            PushPlan.Build(Export(at: At.AddHours(1)), "01W9", "01W9"),
            PushPlan.Build(Export(), "02AB", "02AB"),
            PushPlan.Build(Export(), "", "key-1"),
        }.Select(p => p.Beds!.RequestId);

        Assert.Equal(5, ids.Distinct().Count());
        Assert.NotEqual(PushPlan.Build(Export(), "01W9", "01W9").Calendars[0].RequestId, PushPlan.Build(Export(slots: 5), "01W9", "01W9").Calendars[0].RequestId);
    }

    [Fact]
    public void A_calendar_only_export_sends_no_report()
    {
        var plan = PushPlan.Build(Export() with { Beds = [] }, "", "k");

        Assert.Null(plan.Beds);
        Assert.Equal(1, plan.CallCount);
    }
}
