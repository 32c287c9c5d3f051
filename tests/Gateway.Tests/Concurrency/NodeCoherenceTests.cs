using BedBureau.Contract.V1;
using BedBureau.Gateway.Storage;
using BedBureau.Gateway.Tests.EndToEnd;
using BedBureau.Wire.Client;
using Npgsql;

namespace BedBureau.Gateway.Tests.Concurrency;

/// <summary>What one node reads catches up with what another node committed, without waiting for its activations to go idle.</summary>
[Collection(TwoNodesCollection.Name)]
public sealed class NodeCoherenceTests(TwoNodes nodes)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_referral_cancelled_through_one_node_shows_cancelled_through_the_other_which_had_it_active()
    {
        var registered = await Scenario.RegisterAsync(nodes.A, hospitalIndex: 3);
        var lookup = new GetQueueStatusRequest { HospitalizationCode = registered.HospitalizationCode, AccessKey = registered.AccessKey };
        Assert.Equal(ReferralStatus.Registered, (await nodes.B.Anonymous.UnaryAsync(Api.QueueStatus, lookup)).Status.Status); // active and cached on B

        using (var polyclinic = nodes.A.ChannelFor(nodes.A.Polyclinic()))
        {
            await polyclinic.UnaryAsync(Api.Cancel, new CancelReferralRequest { RequestId = Guid.NewGuid().ToString(), HospitalizationCode = registered.HospitalizationCode, Reason = CancellationReason.PatientRequest });
        }

        await Eventually(async () => (await nodes.B.Anonymous.UnaryAsync(Api.QueueStatus, lookup)).Status.Status == ReferralStatus.Cancelled,
            "node B still shows the referral active");
    }

    [Fact]
    public async Task Beds_reported_through_one_node_show_in_the_other_nodes_directory_and_search()
    {
        var hospital = nodes.A.Hospital(4);
        var (profile, free) = await ReportThroughAAsync(hospital);

        await Eventually(async () => (await CensusOnBAsync(hospital.organization_id, profile)).Free == free, "node B still shows the old census");
        using var polyclinic = nodes.B.ChannelFor(nodes.B.Polyclinic());
        var search = await polyclinic.UnaryAsync(Api.Search, new SearchFreeBedsRequest { BedProfileCode = profile, MaxResults = 100 });
        Assert.Equal(free, search.Offers.Single(o => o.HospitalId == hospital.organization_id).Census.Free);
    }

    [Fact]
    public async Task A_node_whose_listener_was_cut_off_reconnects_and_catches_up()
    {
        var hospital = nodes.A.Hospital(5);
        await using (var connection = new NpgsqlConnection(nodes.Database))
        {
            await connection.OpenAsync();
            await using var kill = new NpgsqlCommand("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", connection);
            kill.Parameters.Add(new NpgsqlParameter { Value = PostgresDatabase.ListenerApplicationName(nodes.B.Service<BureauHost>().Storage.NodeId) });
            Assert.Equal(1L, await kill.ExecuteScalarAsync());
        }

        // Made while B may not be listening: B catches up when it listens again.
        var (profile, free) = await ReportThroughAAsync(hospital);

        await Eventually(async () => (await CensusOnBAsync(hospital.organization_id, profile)).Free == free, "node B did not catch up after reconnecting");

        // It listens again, having dropped what it held while deaf.
        using var http = new HttpClient();
        var metrics = await http.GetStringAsync($"{nodes.B.HttpAddress}/metrics");
        Assert.Contains("bedbureau_nodes_listener_connected 1", metrics, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^bedbureau_nodes_resyncs_total [1-9]", metrics);
    }

    [Fact]
    public async Task A_patient_watching_through_one_node_sees_the_hospital_schedule_them_through_the_other()
    {
        var registered = await Scenario.RegisterAsync(nodes.A, hospitalIndex: 6);
        using var watch = nodes.B.Anonymous.ServerStreaming(Api.WatchQueueStatus,
            new WatchQueueStatusRequest { HospitalizationCode = registered.HospitalizationCode, AccessKey = registered.AccessKey });
        Assert.True(await watch.ResponseStream.MoveNext().WaitAsync(Patience));
        Assert.Equal(ReferralStatus.Registered, watch.ResponseStream.Current.Status.Status);

        using (var hospital = nodes.A.ChannelFor(nodes.A.Hospital(6)))
        {
            await hospital.UnaryAsync(Api.Schedule, new ScheduleReferralRequest { RequestId = Guid.NewGuid().ToString(), HospitalizationCode = registered.HospitalizationCode });
        }

        Assert.True(await watch.ResponseStream.MoveNext().WaitAsync(Patience), "node B's watch ended");
        Assert.Equal(ReferralStatus.Scheduled, watch.ResponseStream.Current.Status.Status);
    }

    [Fact]
    public async Task A_hospital_watching_through_one_node_gets_each_event_committed_through_either_node_once_and_in_order()
    {
        using var hospitalOnB = nodes.B.ChannelFor(nodes.B.Hospital(7));
        using var watch = hospitalOnB.ServerStreaming(Api.WatchReferrals, new WatchReferralsRequest());
        await watch.ResponseHeadersAsync().WaitAsync(Patience); // subscribed

        // Registered and scheduled through A, admitted through B (whose activation may still be
        // the older one: then B answers ABORTED and the same request is retried).
        var code = (await Scenario.RegisterAsync(nodes.A, hospitalIndex: 7)).HospitalizationCode;
        using (var hospitalOnA = nodes.A.ChannelFor(nodes.A.Hospital(7)))
        {
            await hospitalOnA.UnaryAsync(Api.Schedule, new ScheduleReferralRequest { RequestId = Guid.NewGuid().ToString(), HospitalizationCode = code });
        }

        // They reach B's watcher without any change through B.
        var received = new List<Contract.V1.ReferralEvent>();
        while (!received.Any(e => e.HospitalizationCode == code && e.Action == "SCHEDULED"))
        {
            Assert.True(await watch.ResponseStream.MoveNext().WaitAsync(Patience), "node B's watch ended");
            received.Add(watch.ResponseStream.Current.Event);
        }

        var admission = new AdmitPatientRequest { RequestId = Guid.NewGuid().ToString(), HospitalizationCode = code };
        await Eventually(async () =>
        {
            try
            {
                await hospitalOnB.UnaryAsync(Api.Admit, admission);
                return true;
            }
            catch (Wire.RpcException ex) when (ex.StatusCode == Wire.StatusCode.Aborted)
            {
                return false;
            }
        }, "node B kept answering ABORTED");

        // A later referral of the same grain through B: every event before it arrives before it.
        var sentinel = (await Scenario.RegisterAsync(nodes.B, hospitalIndex: 7)).HospitalizationCode;
        while (received.LastOrDefault()?.HospitalizationCode != sentinel)
        {
            Assert.True(await watch.ResponseStream.MoveNext().WaitAsync(Patience), "node B's watch ended");
            received.Add(watch.ResponseStream.Current.Event);
        }

        // Sequences count per grain: the hospital's other profiles (other tests' referrals) have their own.
        Assert.Equal(["REGISTERED", "SCHEDULED", "ADMITTED"], received.Where(e => e.HospitalizationCode == code).Select(e => e.Action));
        static string ProfileOf(string hospitalizationCode) => hospitalizationCode.Split('.')[2];
        var ofTheGrain = received.Where(e => ProfileOf(e.HospitalizationCode) == ProfileOf(code)).Select(e => e.Sequence).ToList();
        Assert.Equal(ofTheGrain.Order().Distinct(), ofTheGrain);
    }

    /// <summary>A new census of the hospital's first profile through node A, after node B has shown the current one.</summary>
    private async Task<(string Profile, int Free)> ReportThroughAAsync(GatewayFixture.DemoKey hospital)
    {
        var info = await nodes.B.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = hospital.organization_id });
        var profile = info.Hospital.BedProfileCodes[0];
        var free = (info.Census.SingleOrDefault(c => c.BedProfileCode == profile)?.Free ?? 0) + 1 + Random.Shared.Next(5);
        using var client = nodes.A.ChannelFor(hospital);
        await client.UnaryAsync(Api.ReportBeds, new ReportBedsRequest
        {
            RequestId = Guid.NewGuid().ToString(),
            HospitalId = hospital.organization_id,
            Reports = { new BedReport { BedProfileCode = profile, Total = free + 10, Occupied = 10, Free = free } },
        });
        return (profile, free);
    }

    private async Task<BedCensus> CensusOnBAsync(string hospital, string profile) =>
        (await nodes.B.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = hospital })).Census.Single(c => c.BedProfileCode == profile);

    private static async Task Eventually(Func<Task<bool>> condition, string failure)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"{failure} after {Patience.TotalSeconds} s");
            await Task.Delay(50);
        }
    }
}
