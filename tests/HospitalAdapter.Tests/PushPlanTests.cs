using BedBureau.HospitalAdapter.Input;
using BedBureau.HospitalAdapter.Push;

namespace BedBureau.HospitalAdapter.Tests;

public sealed class PushPlanTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 23, 7, 30, 0, TimeSpan.FromHours(5));

    private static HospitalExport Export() => new(
        [new BedCount("101", 10, 5, 5, 0, 0, At, new Origin("beds.csv", "line 2")), new BedCount("103", 20, 10, 10, 5, 5, At, new Origin("beds.csv", "line 3"))],
        [new ProfileCalendar("101", [new CalendarDay(new DateOnly(2026, 11, 24), 4, new Origin("calendar.csv", "line 2")), new CalendarDay(new DateOnly(2026, 11, 25), 4, new Origin("calendar.csv", "line 3"))], new Origin("calendar.csv", "line 2"))]);

    [Fact]
    public void Builds_one_report_of_all_profiles_and_one_calendar_call_per_profile()
    {
        var plan = PushPlan.Build(Export(), "01W9");

        Assert.Equal(2, plan.CallCount);
        Assert.Equal(["101", "103"], plan.Beds!.Reports.Select(r => r.BedProfileCode));
        Assert.Equal("01W9", plan.Beds.HospitalId);
        Assert.Equal(At, plan.Beds.Reports[1].ReportedAt.ToDateTimeOffset());
        Assert.Equal((5, 5), (plan.Beds.Reports[1].FreeMale, plan.Beds.Reports[1].FreeFemale));
        var calendar = Assert.Single(plan.Calendars);
        Assert.Equal([(2026, 11, 24, 4), (2026, 11, 25, 4)], calendar.Days.Select(d => (d.Date.Year, d.Date.Month, d.Date.Day, d.Slots)));
    }

    [Fact]
    public void Each_plan_gets_new_request_ids_even_for_the_same_export_and_its_calls_share_one()
    {
        var first = PushPlan.Build(Export(), "01W9");
        var again = PushPlan.Build(Export(), "01W9");

        Assert.NotEqual(first.Beds!.RequestId, again.Beds!.RequestId);
        Assert.NotEqual(first.Calendars[0].RequestId, again.Calendars[0].RequestId);
        Assert.Matches("^his-[0-9a-f]{32}$", first.Beds.RequestId);
        Assert.Equal($"{first.Beds.RequestId}.101", first.Calendars[0].RequestId);
    }

    [Fact]
    public void A_calendar_only_export_sends_no_report()
    {
        var plan = PushPlan.Build(Export() with { Beds = [] }, "");

        Assert.Null(plan.Beds);
        Assert.Equal(1, plan.CallCount);
    }
}
