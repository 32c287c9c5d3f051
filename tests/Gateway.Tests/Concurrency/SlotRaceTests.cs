using System.Collections.Concurrent;
using System.Diagnostics;
using BedBureau.Contract.V1;
using BedBureau.Gateway.ReferenceData;
using BedBureau.Gateway.Sample;
using BedBureau.Gateway.Tests.EndToEnd;
using BedBureau.Wire;
using BedBureau.Wire.Client;
using Xunit.Abstractions;
using static BedBureau.Gateway.Tests.EndToEnd.GatewayFixture;

namespace BedBureau.Gateway.Tests.Concurrency;

/// <summary>
/// 1,000 polyclinic clients, each with its own patient, race over real gRPC for the 10 admission
/// slots of one hospital's profile on one day. The domain does not queue a registration without
/// a slot: it refuses it (FAILED_PRECONDITION, [NO_FREE_SLOT]) and the polyclinic picks another
/// date or hospital.
/// </summary>
public abstract class SlotRaceTests<TGateway>(TGateway gateway, ITestOutputHelper output)
    where TGateway : ConcurrencyGateway
{
    private const int Clients = 1000;
    private const int Slots = 10;

    [Fact]
    public async Task A_thousand_clients_racing_for_ten_slots_get_exactly_ten_and_the_rest_no_free_slot()
    {
        var hospital = gateway.Hospital(0).organization_id;
        var profile = (await gateway.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = hospital })).Hospital.BedProfileCodes[0];
        var child = ReferenceCatalog.BedProfiles.Single(p => p.Code == profile).IsChild;

        // A day beyond the sample's calendars, so its 10 slots are all free before the race.
        var day = gateway.Today.AddDays(60);
        using (var own = gateway.ChannelFor(gateway.Hospital(0)))
        {
            var calendar = await own.UnaryAsync(Api.SetAdmissionCapacity, new SetAdmissionCapacityRequest
            {
                RequestId = Guid.NewGuid().ToString(),
                HospitalId = hospital,
                BedProfileCode = profile,
                Days = { new Contract.V1.AdmissionDay { Date = Date(day), Slots = Slots } },
            });
            Assert.Equal(0, calendar.Days.Single(d => d.Date.Equals(Date(day))).Reserved);
        }

        var random = new Random(20261123);
        var iins = new HashSet<string>();
        while (iins.Count < Clients)
        {
            iins.Add(NationalDataset.Iin(random, day, child));
        }

        // Both demo polyclinics, four channels each: 1,000 streams multiplexed over a few HTTP/2 connections.
        var channels = Enumerable.Range(0, 8).Select(i => gateway.ChannelFor(gateway.Polyclinic(i % 2))).ToArray();
        // Request ids without a run of 12 digits: the audit trail masks those as possible IINs
        // (a UUID's last group is all digits in about 1 of 280).
        var requests = iins.Select(iin => Scenario.Registration(gateway, hospital, profile, iin, inDays: 60)).ToArray();
        for (var i = 0; i < requests.Length; i++)
        {
            requests[i].RequestId = $"race-{i}";
        }

        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var succeeded = new ConcurrentBag<RegisterReferralResponse>();
        var clock = new Stopwatch();

        async Task<(StatusCode Code, string Detail)> ClientAsync(int i)
        {
            await go.Task;
            try
            {
                succeeded.Add(await channels[i % channels.Length].UnaryAsync(Api.Register, requests[i]));
                return (StatusCode.OK, "");
            }
            catch (RpcException ex)
            {
                return (ex.StatusCode, ex.Status.Detail);
            }
        }

        var clients = Enumerable.Range(0, Clients).Select(i => Task.Run(() => ClientAsync(i))).ToArray();
        clock.Start();
        go.SetResult();
        var outcomes = await Task.WhenAll(clients);
        clock.Stop();
        output.WriteLine($"{Clients} registrations for {Slots} slots answered in {clock.ElapsedMilliseconds} ms: " +
            string.Join(", ", outcomes.GroupBy(o => $"{o.Code} {o.Detail.Split(' ')[0]}").Select(g => $"{g.Key} x{g.Count()}")));

        Assert.Equal(Slots, outcomes.Count(o => o.Code == StatusCode.OK));
        var refused = outcomes.Where(o => o.Code != StatusCode.OK).ToArray();
        Assert.All(refused, o => Assert.Equal(StatusCode.FailedPrecondition, o.Code));
        Assert.All(refused, o => Assert.StartsWith($"[NO_FREE_SLOT] No free admission slot on {day:yyyy-MM-dd}", o.Detail, StringComparison.Ordinal));

        // Each winner got its own code and a place 1..10 on the day.
        var winners = succeeded.ToArray();
        Assert.Equal(Slots, winners.Select(w => w.HospitalizationCode).Distinct().Count());
        Assert.Equal(Enumerable.Range(1, Slots), winners.Select(w => w.Referral.QueuePosition - FirstPositionOn(winners) + 1).Order());

        await AssertTenReservedAsync(hospital, profile, day, winners);

        // Every call has its audit record: the winners' with their change, the refusals' with their reason.
        var requestIds = requests.Select(r => r.RequestId).ToHashSet();
        var audit = (await gateway.AuditAsync("bedbureau.v1.ReferralService/RegisterReferral")).Where(r => requestIds.Contains(r.RequestId)).ToArray();
        Assert.Equal(Clients, audit.Length);
        Assert.Equal(winners.Select(w => w.HospitalizationCode).Order(), audit.Where(r => r.Outcome == "OK").Select(r => r.Target).Order());
        Assert.All(audit.Where(r => r.Outcome != "OK"), r => Assert.Equal(("FAILED_PRECONDITION", "NO_FREE_SLOT"), (r.Outcome, r.Reason)));

        // What was persisted: the same ten after every grain is loaded again from storage.
        foreach (var channel in channels)
        {
            channel.Dispose();
        }

        await gateway.RestartAsync();
        await AssertTenReservedAsync(hospital, profile, day, winners);
        foreach (var winner in winners)
        {
            var status = await gateway.Anonymous.UnaryAsync(Api.QueueStatus, new GetQueueStatusRequest { HospitalizationCode = winner.HospitalizationCode, AccessKey = winner.AccessKey });
            Assert.Equal((ReferralStatus.Registered, winner.Referral.QueuePosition), (status.Status.Status, status.Status.QueuePosition));
        }
    }

    /// <summary>Referrals planned before the race day (the sample's) come first in the queue.</summary>
    private static int FirstPositionOn(RegisterReferralResponse[] winners) => winners.Min(w => w.Referral.QueuePosition);

    private async Task AssertTenReservedAsync(string hospital, string profile, DateOnly day, RegisterReferralResponse[] winners)
    {
        var calendar = await gateway.CalendarAsync(hospital, profile);
        Assert.Equal((Slots, Slots), calendar.Where(d => d.Date == day).Select(d => (d.Slots, d.Reserved)).Single());
        Assert.Empty(await gateway.InvariantProblemsAsync(hospital, profile));

        using var own = gateway.ChannelFor(gateway.Hospital(0));
        var queue = await own.UnaryAsync(Api.ListQueue, new ListQueueRequest { HospitalId = hospital, BedProfileCode = profile, PlannedFrom = Date(day), PlannedTo = Date(day) });
        Assert.Equal(winners.Select(w => w.HospitalizationCode).Order(), queue.Referrals.Select(r => r.HospitalizationCode).Order());

        // The free-bed search agrees: the day has no slot left to offer.
        using var polyclinic = gateway.ChannelFor(gateway.Polyclinic(0));
        var search = await polyclinic.UnaryAsync(Api.Search, new SearchFreeBedsRequest { BedProfileCode = profile, DateFrom = Date(day), DateTo = Date(day), MaxResults = 500 });
        Assert.DoesNotContain(search.Offers, o => o.HospitalId == hospital);
    }
}

[Collection(SqliteConcurrencyCollection.Name)]
public sealed class SlotRaceOnSqliteTests(SqliteConcurrencyGateway gateway, ITestOutputHelper output)
    : SlotRaceTests<SqliteConcurrencyGateway>(gateway, output);

[Collection(PostgresConcurrencyCollection.Name)]
public sealed class SlotRaceOnPostgresTests(PostgresConcurrencyGateway gateway, ITestOutputHelper output)
    : SlotRaceTests<PostgresConcurrencyGateway>(gateway, output);
