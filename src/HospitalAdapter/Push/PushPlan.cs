using System.Security.Cryptography;
using BedBureau.Contract.V1;
using BedBureau.HospitalAdapter.Input;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace BedBureau.HospitalAdapter.Push;

/// <summary>
/// The calls one export turns into: at most one ReportBeds (all profiles) and one
/// SetAdmissionCapacity per profile of the calendar, each with a request id derived from what
/// it carries, so sending the same export again (a retry, a restart) never applies it twice.
/// </summary>
public sealed record PushPlan(ReportBedsRequest? Beds, IReadOnlyList<SetAdmissionCapacityRequest> Calendars)
{
    public int CallCount => (Beds is null ? 0 : 1) + Calendars.Count;

    /// <param name="hospitalId">Sent in each request; empty lets the bureau take it from the API key.</param>
    /// <param name="identity">Who sends (the hospital id, else the API key's id): part of every request id.</param>
    public static PushPlan Build(HospitalExport export, string hospitalId, string identity)
    {
        ReportBedsRequest? beds = null;
        if (export.Beds.Count > 0)
        {
            beds = new ReportBedsRequest { HospitalId = hospitalId };
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

            beds.RequestId = RequestId("ReportBeds", identity, beds);
        }

        var calendars = new List<SetAdmissionCapacityRequest>(export.Calendars.Count);
        foreach (var calendar in export.Calendars)
        {
            var request = new SetAdmissionCapacityRequest { HospitalId = hospitalId, BedProfileCode = calendar.ProfileCode };
            request.Days.AddRange(calendar.Days.Select(d => new AdmissionDay { Date = new CalendarDate { Year = d.Date.Year, Month = d.Date.Month, Day = d.Date.Day }, Slots = d.Slots }));
            request.RequestId = RequestId("SetAdmissionCapacity", identity, request);
            calendars.Add(request);
        }

        return new PushPlan(beds, calendars);
    }

    /// <summary>
    /// "his-" and 128 bits of SHA-256 over the method, the sender and the request's bytes (with
    /// an empty request id). protobuf's encoding of these messages (no maps) is deterministic,
    /// and the content carries its period: the report time, the calendar's dates.
    /// </summary>
    public static string RequestId<T>(string method, string identity, T request)
        where T : IMessage<T>
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(System.Text.Encoding.UTF8.GetBytes($"{method}\n{identity}\n"));
        hash.AppendData(request.ToByteArray());
        return "his-" + Convert.ToHexStringLower(hash.GetHashAndReset().AsSpan(0, 16));
    }
}
