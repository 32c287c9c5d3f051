using System.Text.Json;
using BedBureau.Gateway.Sample;
using BedBureau.Gateway.Security;
using BedBureau.Gateway.Tests.EndToEnd;

namespace BedBureau.Gateway.Tests.Sample;

/// <summary>The national sample as the gateway seeds it: its polyclinics as organisations, each referral from its own polyclinic.</summary>
[Collection(GatewayCollection.Name)]
public sealed class SampleSeedingTests(GatewayFixture gateway)
{
    // The fixture's sample (default seed, 40 hospitals, 200 referrals): two polyclinics a region.
    private static readonly IReadOnlyList<PolyclinicSample> Polyclinics = NationalDataset.Generate(2026, DateOnly.FromDateTime(GatewayFixture.Start.Date), 40, 200).Polyclinics;

    [Fact]
    public async Task Every_sample_polyclinic_is_an_organisation_and_the_demo_keys_are_the_two_well_known_ones()
    {
        var stored = await gateway.Service<BureauHost>().Storage.Organizations.ListOrganizationsAsync(default);

        Assert.Subset(
            stored.Where(o => o.Kind == OrganizationKind.Polyclinic).Select(o => (o.Id, o.Name, o.Bin, o.RegionCode)).ToHashSet(),
            Polyclinics.Select(p => (p.Id, p.Name, p.Bin, p.RegionCode)).ToHashSet());
        Assert.Equal(["PC-75-001", "PC-71-002"], gateway.Keys.Where(k => k.kind == "POLYCLINIC").Select(k => k.organization_id));
    }

    [Fact]
    public async Task Sample_referrals_are_registered_by_polyclinics_of_the_patients_region()
    {
        // Tests register with the demo polyclinics' keys; the others hold only the sample's referrals.
        var directory = gateway.Service<BureauHost>().Storage.Directory;
        var referrers = new HashSet<string>();
        foreach (var polyclinic in Polyclinics.Where(p => p.Id is not ("PC-75-001" or "PC-71-002")))
        {
            foreach (var body in await directory.ListReferralBodiesAsync(polyclinic.Id, [], 0, 1000, default))
            {
                var referral = JsonSerializer.Deserialize<BedGrain.Domain.Referral>(body)!;
                Assert.Equal((polyclinic.Id, polyclinic.RegionCode), (referral.ReferringOrganizationId, referral.PatientRegionCode));
                referrers.Add(polyclinic.Id);
            }
        }

        Assert.True(referrers.Count > 10, $"{referrers.Count} polyclinics registered the sample's referrals");
    }
}
