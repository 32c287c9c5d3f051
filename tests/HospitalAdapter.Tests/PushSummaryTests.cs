using BedBureau.Contract.V1;
using BedBureau.HospitalAdapter.Configuration;
using BedBureau.HospitalAdapter.Input;
using BedBureau.HospitalAdapter.Push;
using BedBureau.Wire;

namespace BedBureau.HospitalAdapter.Tests;

/// <summary>The summary of a push that failed part-way: what was sent, what was not, and where in the files each comes from.</summary>
public sealed class PushSummaryTests : IDisposable
{
    private static readonly DateTimeOffset At = new(2026, 11, 23, 7, 30, 0, TimeSpan.FromHours(5));
    private static readonly DateOnly Date = new(2026, 11, 24);
    private readonly StringWriter _output = new();

    private static PushPlan Plan() => PushPlan.Build(
        new HospitalExport(
            [new BedCount("101", 10, 5, 5, 0, 0, At, new Origin("beds.csv", "line 2")), new BedCount("103", 20, 10, 10, 0, 0, At, new Origin("beds.csv", "line 3"))],
            [
                new ProfileCalendar("101", [new CalendarDay(Date, 4, new Origin("calendar.csv", "line 2"))], new Origin("calendar.csv", "line 2")),
                new ProfileCalendar("103", [new CalendarDay(Date, 4, new Origin("calendar.csv", "line 4")), new CalendarDay(Date.AddDays(1), 4, new Origin("calendar.csv", "line 5"))], new Origin("calendar.csv", "line 4")),
            ]),
        "01W9");

    [Fact]
    public void A_call_refused_after_others_were_applied_is_partly_sent_naming_its_row_and_the_calls_not_tried()
    {
        var refusal = new RpcException(StatusCode.NotFound, "[PROFILE_NOT_OFFERED] bed_profile_code: hospital 01W9 has no 101 beds");

        var exit = AdapterCli.Summarize(PlainConsole.Writing(_output), new AdapterSettings(), Plan(), new PushOutcome(false, new ReportBedsResponse(), [], refusal));

        Assert.Equal(AdapterCli.PartlySent, exit);
        Assert.Contains("Partly sent (NotFound): beds sent; calendar of profile 101 (calendar.csv, line 2) not sent: [PROFILE_NOT_OFFERED] bed_profile_code: hospital 01W9 has no 101 beds; " +
            "calendar of profile 103 (calendar.csv, line 4) not sent either (not tried)", Flat(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_refused_report_is_traced_to_the_row_the_bureau_names()
    {
        var refusal = new RpcException(StatusCode.FailedPrecondition, "[STALE_REPORT] reports[1].reported_at: the report of profile(s) 103 is older than the one stored; nothing was changed for any profile.");

        var exit = AdapterCli.Summarize(PlainConsole.Writing(_output), new AdapterSettings(), Plan(), new PushOutcome(false, null, [], refusal));

        Assert.Equal(AdapterCli.SendFailed, exit);
        Assert.Contains("Not sent (FailedPrecondition): beds (beds.csv, line 3): [STALE_REPORT] reports[1].reported_at", Flat(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_refused_calendar_date_is_traced_to_its_row()
    {
        var refusal = new RpcException(StatusCode.InvalidArgument, "[OUT_OF_RANGE] days[1].date: must be from today (2026-11-24) to 2026-11-24");

        var exit = AdapterCli.Summarize(PlainConsole.Writing(_output), new AdapterSettings(), Plan(), new PushOutcome(false, new ReportBedsResponse(), [("101", new SetAdmissionCapacityResponse())], refusal));

        Assert.Equal(AdapterCli.PartlySent, exit);
        Assert.Contains("beds, calendar of profile 101 (calendar.csv, line 2) sent; calendar of profile 103 (calendar.csv, line 5) not sent: [OUT_OF_RANGE] days[1].date", Flat(), StringComparison.Ordinal);
    }

    private string Flat() => string.Join(' ', _output.ToString().Split('\n', StringSplitOptions.TrimEntries));

    public void Dispose() => _output.Dispose();
}
