using BedBureau.Contract.V1;
using BedBureau.Wire;
using Google.Protobuf.WellKnownTypes;

namespace BedBureau.Gateway.Tests.EndToEnd;

/// <summary>
/// The gateway's settings for idle grains: after Bureau:TrimMinutes (15) a grain lets go of its
/// referrals and stays active, so the hospital's next report loads nothing; after
/// Bureau:IdleMinutes (26 h) it leaves memory. A gateway of its own: the test moves its clock.
/// </summary>
public sealed class IdleGrainTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task A_grain_idle_for_the_trim_time_stays_active_for_the_next_report_and_leaves_memory_after_a_day()
    {
        var grains = gateway.Service<BureauHost>().Bureau.Grains;
        var hospital = gateway.Hospital(1).organization_id;
        var profile = (await gateway.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = hospital })).Hospital.BedProfileCodes[0];
        using var own = gateway.ChannelFor(gateway.Hospital(1));
        await own.UnaryAsync(Api.ListQueue, new ListQueueRequest { HospitalId = hospital, BedProfileCode = profile }); // loads the referrals
        var (activations, trims) = (grains.Activations, grains.Trims);

        gateway.Time.Advance(TimeSpan.FromMinutes(16));
        var report = await own.UnaryAsync(Api.ReportBeds, new ReportBedsRequest
        {
            HospitalId = hospital,
            RequestId = "after-a-quiet-quarter",
            Reports = { new BedReport { BedProfileCode = profile, Total = 20, Occupied = 15, Free = 5, ReportedAt = Timestamp.FromDateTimeOffset(gateway.Time.GetUtcNow()) } },
        });

        Assert.Equal(5, report.Census.Single().Free);
        Assert.True(grains.Trims > trims, "the idle grain let go of its referrals");
        Assert.Equal(activations, grains.Activations); // the report found it active
        Assert.NotEqual(0, grains.ActivationCount);

        gateway.Time.Advance(TimeSpan.FromHours(27));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (grains.ActivationCount > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{grains.ActivationCount} grains still active after 27 idle hours");
            await Task.Delay(10);
        }

        await Task.Delay(200); // the no-show reminders, days ahead, must not bring them back meanwhile
        Assert.Equal(0, grains.ActivationCount);
    }
}
