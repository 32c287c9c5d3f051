using BedBureau.Contract.V1;
using BedBureau.Gateway.ReferenceData;
using BedBureau.Gateway.Sample;
using static BedBureau.Gateway.Tests.EndToEnd.GatewayFixture;

namespace BedBureau.Gateway.Tests.EndToEnd;

/// <summary>Referrals made over the wire for tests that need one to act on.</summary>
internal static class Scenario
{
    private static int _serial = 100_000;
    private static int _dates;

    /// <summary>A profile a demo hospital offers, with a valid IIN of the right age for it.</summary>
    public static async Task<(string Hospital, string Profile, string Iin)> TargetAsync(GatewayFixture gateway, int hospitalIndex = 0)
    {
        var hospital = gateway.Hospital(hospitalIndex).organization_id;
        var info = await gateway.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = hospital });
        var profile = info.Hospital.BedProfileCodes[0];
        var child = ReferenceCatalog.BedProfiles.Single(p => p.Code == profile).IsChild;
        var iin = NationalDataset.Iin(new Random(Interlocked.Increment(ref _serial) * 7919), gateway.Today, child);
        return (hospital, profile, iin);
    }

    /// <summary>Sets <paramref name="slots"/> on the day <paramref name="inDays"/> ahead: room for a whole test's registrations.</summary>
    public static async Task OpenDayAsync(GatewayFixture gateway, DemoKey hospital, string profile, int inDays, int slots)
    {
        using var client = gateway.ChannelFor(hospital);
        await client.UnaryAsync(Api.SetAdmissionCapacity, new SetAdmissionCapacityRequest
        {
            RequestId = Guid.NewGuid().ToString(),
            HospitalId = hospital.organization_id,
            BedProfileCode = profile,
            Days = { new AdmissionDay { Date = Date(gateway.Today.AddDays(inDays)), Slots = slots } },
        });
    }

    /// <param name="inDays">Days ahead; by default the tests' referrals spread over 2..26 days, the sample's calendars being small.</param>
    public static RegisterReferralRequest Registration(GatewayFixture gateway, string hospital, string profile, string iin, int? inDays = null) => new()
    {
        RequestId = Guid.NewGuid().ToString(),
        PatientIin = iin,
        Icd10Code = "I20.8",
        BedProfileCode = profile,
        HospitalId = hospital,
        PlannedDate = Date(gateway.Today.AddDays(inDays ?? 2 + (Interlocked.Increment(ref _dates) % 25))),
        Purpose = TreatmentPurpose.Surgical,
        FinanceSource = FinanceSource.GuaranteedVolume,
        PatientRegionCode = "75",
        PatientLocality = "Almaty",
    };

    /// <summary>A registration of a patient not seen before, of the right age for <paramref name="profile"/>.</summary>
    public static RegisterReferralRequest NewPatientRegistration(GatewayFixture gateway, string hospital, string profile, int inDays) =>
        Registration(gateway, hospital, profile,
            NationalDataset.Iin(new Random(Random.Shared.Next()), gateway.Today, ReferenceCatalog.BedProfiles.Single(p => p.Code == profile).IsChild), inDays);

    /// <summary>A new referral to the given demo hospital by the given demo polyclinic.</summary>
    public static async Task<RegisterReferralResponse> RegisterAsync(GatewayFixture gateway, int hospitalIndex = 0, int polyclinicIndex = 0)
    {
        var (hospital, profile, iin) = await TargetAsync(gateway, hospitalIndex);
        using var polyclinic = gateway.ChannelFor(gateway.Polyclinic(polyclinicIndex));

        // The sample's calendars are small: many tests' referrals move on to a later day once one is full.
        for (var inDays = 2 + (Interlocked.Increment(ref _dates) % 25); ; inDays++)
        {
            try
            {
                return await polyclinic.UnaryAsync(Api.Register, Registration(gateway, hospital, profile, iin, inDays));
            }
            catch (Wire.RpcException ex) when (inDays < 29 && ex.Status.Detail.StartsWith("[NO_FREE_SLOT]", StringComparison.Ordinal))
            {
            }
        }
    }
}
