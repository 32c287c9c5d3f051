using BedBureau.Contract.V1;
using BedBureau.Wire.Client;

namespace BedBureau.Gateway.Tests.EndToEnd;

[Collection(GatewayCollection.Name)]
public sealed class DirectoryTests(GatewayFixture gateway)
{
    /// <summary>
    /// A hospital's page answers from the search index the grains keep current, so looking up
    /// hospitals after a restart does not load every profile's whole queue from storage.
    /// </summary>
    [Fact]
    public async Task A_hospital_shows_each_profiles_last_reported_beds_without_activating_its_grains()
    {
        var hospital = gateway.Hospital(2).organization_id;
        var profiles = (await gateway.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = hospital })).Hospital.BedProfileCodes;
        var reports = profiles.Select((profile, i) => new BedReport { BedProfileCode = profile, Total = 40 + i, Occupied = 30 - i, Free = 7 + i }).ToArray();
        using (var own = gateway.ChannelFor(gateway.Hospital(2)))
        {
            await own.UnaryAsync(Api.ReportBeds, new ReportBedsRequest { RequestId = Guid.NewGuid().ToString(), HospitalId = hospital, Reports = { reports } });
        }

        // Every grain inactive, as after a restart.
        var grains = gateway.Service<BureauHost>().Bureau.Grains;
        await grains.DeactivateAllAsync();
        var activations = grains.Activations;

        var shown = await gateway.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = hospital });

        Assert.Equal(activations, grains.Activations);
        Assert.Equal(
            reports.Select(r => (r.BedProfileCode, r.Total, r.Occupied, r.Free, Freshness.Fresh)),
            shown.Census.Select(c => (c.BedProfileCode, c.Total, c.Occupied, c.Free, c.Freshness)));
    }
}
