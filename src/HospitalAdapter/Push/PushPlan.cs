using System.Security.Cryptography;
using BedBureau.Contract.V1;
using BedBureau.HospitalAdapter.Input;
using Google.Protobuf.WellKnownTypes;

namespace BedBureau.HospitalAdapter.Push;

/// <summary>
/// The calls one export turns into: at most one ReportBeds (all profiles) and one
/// SetAdmissionCapacity per profile of the calendar, with request ids chosen when the plan is
/// made. Retrying the plan resends the same ids, so the bureau applies each call at most once;
/// the next push, even of the same file, is a new plan with new ids. The bureau answers a
/// repeated id with its first result for 7 days, so ids derived from the content would make a
/// value set back to an earlier one (slots 6, then 5, then 6 again) a no-op.
/// </summary>
/// <param name="Export">What the calls were made from: their profiles' rows, for messages.</param>
public sealed record PushPlan(HospitalExport Export, string HospitalId, ReportBedsRequest? Beds, IReadOnlyList<SetAdmissionCapacityRequest> Calendars)
{
    public int CallCount => (Beds is null ? 0 : 1) + Calendars.Count;

    /// <summary>Calendar dates of the export before today, which the plan leaves out.</summary>
    public int PastDatesSkipped => Export.PastDatesSkipped;

    /// <param name="hospitalId">Sent in each request, and whose bed profiles in the directory the export is checked against before sending.</param>
    public static PushPlan Build(HospitalExport export, string hospitalId)
    {
        var push = NewPushId();
        ReportBedsRequest? beds = null;
        if (export.Beds.Count > 0)
        {
            beds = new ReportBedsRequest { RequestId = push, HospitalId = hospitalId };
            foreach (var count in export.Beds)
            {
                beds.Reports.Add(new BedReport
                {
                    BedProfileCode = count.ProfileCode,
                    Total = count.Total,
                    Occupied = count.Occupied,
                    Free = count.Free,
                    FreeMale = count.FreeMale,
                    FreeFemale = count.FreeFemale,
                    ReportedAt = count.ReportedAt is { } at ? Timestamp.FromDateTimeOffset(at) : null,
                });
            }
        }

        var calendars = new List<SetAdmissionCapacityRequest>(export.Calendars.Count);
        foreach (var calendar in export.Calendars)
        {
            // One push's calls share its id, so the audit trail shows them together.
            var request = new SetAdmissionCapacityRequest { RequestId = $"{push}.{calendar.ProfileCode}", HospitalId = hospitalId, BedProfileCode = calendar.ProfileCode };
            request.Days.AddRange(calendar.Days.Select(d => new AdmissionDay { Date = new CalendarDate { Year = d.Date.Year, Month = d.Date.Month, Day = d.Date.Day }, Slots = d.Slots }));
            calendars.Add(request);
        }

        return new PushPlan(export, hospitalId, beds, calendars);
    }

    /// <summary>"his-" and 128 random bits: unique without a clock or a counter that a restart could repeat.</summary>
    private static string NewPushId() => "his-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
}
