using BedBureau.Contract.V1;
using Google.Protobuf.WellKnownTypes;

namespace BedBureau.Benchmarks;

/// <summary>Contract messages of typical sizes for the wire benchmarks.</summary>
internal static class WireMessages
{
    /// <summary>A polyclinic's RegisterReferral request (~120 bytes).</summary>
    public static RegisterReferralRequest SmallRequest() => new()
    {
        RequestId = "3f1c9a2e-5b7d-4e21-9c0a-8d6f2b1e4a77",
        PatientIin = "900101300123",
        Icd10Code = "I20.8",
        BedProfileCode = "101",
        HospitalId = "H-750000-0042",
        PlannedDate = new CalendarDate { Year = 2026, Month = 12, Day = 3 },
        Purpose = TreatmentPurpose.Surgical,
        FinanceSource = FinanceSource.GuaranteedVolume,
        PatientLocality = "Алматы",
        PatientRegionCode = "750000",
    };

    /// <summary>A national SearchFreeBeds answer with 50 offers (~5 KB).</summary>
    public static SearchFreeBedsResponse LargeResponse()
    {
        var response = new SearchFreeBedsResponse { AsOf = Timestamp.FromDateTime(new DateTime(2026, 11, 23, 8, 0, 0, DateTimeKind.Utc)) };
        for (var i = 0; i < 50; i++)
        {
            response.Offers.Add(new FreeBedOffer
            {
                HospitalId = $"H-{750000 + i * 10000}-{i:D4}",
                HospitalName = $"Городская клиническая больница №{i + 1}",
                RegionCode = (750000 + i * 10000).ToString(System.Globalization.CultureInfo.InvariantCulture),
                BedProfileCode = "101",
                EarliestFreeDate = new CalendarDate { Year = 2026, Month = 12, Day = 1 + i % 28 },
                FreeSlotsInRange = 10 + i,
                Census = new BedCensus { BedProfileCode = "101", Total = 120, Occupied = 100 - i, Free = 20 + i, ReportedAt = Timestamp.FromDateTime(new DateTime(2026, 11, 23, 7, 55, 0, DateTimeKind.Utc)) },
                QueueLength = i * 3,
            });
        }

        return response;
    }
}
