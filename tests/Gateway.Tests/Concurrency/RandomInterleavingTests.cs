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
/// Random interleavings over real gRPC: register, cancel, reschedule, schedule, admit, refuse,
/// ReportBeds and SetAdmissionCapacity, issued 32 at a time against every bed profile of four
/// hospitals with a few slots a day, then the invariants: no day booked beyond any capacity it
/// ever had, reservations equal to the active referrals, free beds never negative, queue
/// positions dense 1..n per grain (and what patients are told agrees), every acknowledged
/// referral found by its code in the state of its last acknowledged change with exactly the
/// acknowledged events, each with actor, time and reason, and each acknowledged change in the
/// audit trail; the same again after a restart. The plan comes from the seed; which call wins a
/// race does not (that is the point). BEDBUREAU_INTERLEAVE_SEED and BEDBUREAU_INTERLEAVE_STEPS
/// change the seed and the number of calls.
/// </summary>
public abstract class RandomInterleavingTests<TGateway>(TGateway gateway, ITestOutputHelper output)
    where TGateway : ConcurrencyGateway
{
    private static readonly int Seed = int.TryParse(Environment.GetEnvironmentVariable("BEDBUREAU_INTERLEAVE_SEED"), out var seed) ? seed : 20261123;
    private static readonly int Steps = int.TryParse(Environment.GetEnvironmentVariable("BEDBUREAU_INTERLEAVE_STEPS"), out var steps) ? steps : 2000;

    private const int Days = 5;
    private const int FirstDay = 45; // beyond the sample's calendars, short of the slot race's day

    private sealed record Grain(int HospitalIndex, string Hospital, string Profile, bool Child);

    /// <summary>A referral as the clients know it: who referred it, its key, and every acknowledged event.</summary>
    private sealed class Known(string code, Grain grain, int polyclinic, string accessKey)
    {
        public string Code { get; } = code;

        public Grain Grain { get; } = grain;

        public int Polyclinic { get; } = polyclinic;

        public string AccessKey { get; } = accessKey;

        public ConcurrentDictionary<long, ReferralStatus> Acknowledged { get; } = new();
    }

    [Fact]
    public async Task Concurrent_random_changes_keep_every_invariant_and_every_acknowledged_change()
    {
        var grains = new List<Grain>();
        for (var h = 1; h <= 4; h++)
        {
            var id = gateway.Hospital(h).organization_id;
            var info = await gateway.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = id });
            grains.AddRange(info.Hospital.BedProfileCodes.Select(p => new Grain(h, id, p, ReferenceCatalog.BedProfiles.Single(b => b.Code == p).IsChild)));
        }

        var hospitals = Enumerable.Range(0, 5).Select(i => gateway.ChannelFor(gateway.Hospital(i))).ToArray();
        var polyclinics = Enumerable.Range(0, 2).Select(i => gateway.ChannelFor(gateway.Polyclinic(i))).ToArray();
        var day = Enumerable.Range(0, Days).Select(d => gateway.Today.AddDays(FirstDay + d)).ToArray();

        // The most slots each day ever had: a booking beyond it is an overbooking whatever the order of events.
        var maxSlots = new ConcurrentDictionary<(Grain, DateOnly), int>();
        foreach (var grain in grains)
        {
            var calendar = await hospitals[grain.HospitalIndex].UnaryAsync(Api.SetAdmissionCapacity, new SetAdmissionCapacityRequest
            {
                RequestId = $"il-{Seed}-open-{grain.Hospital}-{grain.Profile}",
                HospitalId = grain.Hospital,
                BedProfileCode = grain.Profile,
                Days = { day.Select(d => new Contract.V1.AdmissionDay { Date = Date(d), Slots = 3 }) },
            });
            foreach (var d in calendar.Days.Where(d => d.Date.Year > 0))
            {
                maxSlots[(grain, new DateOnly(d.Date.Year, d.Date.Month, d.Date.Day))] = d.Slots;
            }
        }

        var known = new ConcurrentDictionary<string, Known>();
        var order = new ConcurrentQueue<Known>();
        var reports = new ConcurrentDictionary<(string, string), ConcurrentBag<string>>();
        var outcomes = new ConcurrentDictionary<string, int>();
        var unexpected = new ConcurrentBag<string>();
        var acknowledgedRequests = new ConcurrentBag<string>();

        void Acknowledge(Known referral, Referral view) =>
            referral.Acknowledged[view.History[^1].Sequence] = view.Status;

        Known? Pick(Random random)
        {
            var all = order.ToArray();
            return all.Length == 0 ? null : all[random.Next(all.Length)];
        }

        async Task StepAsync(int index)
        {
            var random = new Random(unchecked((Seed * 1_000_003) + index));
            var requestId = $"il-{Seed}-{index}";
            var grain = grains[random.Next(grains.Count)];
            var date = day[random.Next(Days)];
            var op = random.Next(10);
            var name = op switch { < 3 => "register", 3 => "cancel", 4 => "reschedule", 5 => "schedule", 6 => "admit", 7 => "refuse", 8 => "report", _ => "capacity" };
            var referral = op is >= 3 and <= 7 ? Pick(random) : null;
            try
            {
                switch (name)
                {
                    case "register":
                    {
                        var polyclinic = random.Next(2);
                        var request = Scenario.Registration(gateway, grain.Hospital, grain.Profile, NationalDataset.Iin(random, date, grain.Child), FirstDay);
                        request.RequestId = requestId;
                        request.PlannedDate = Date(date);
                        var response = await polyclinics[polyclinic].UnaryAsync(Api.Register, request);
                        var added = new Known(response.HospitalizationCode, grain, polyclinic, response.AccessKey);
                        Acknowledge(added, response.Referral);
                        known[added.Code] = added;
                        order.Enqueue(added);
                        break;
                    }

                    case "cancel" when referral is not null:
                        Acknowledge(referral, (await polyclinics[referral.Polyclinic].UnaryAsync(Api.Cancel, new CancelReferralRequest
                        {
                            RequestId = requestId,
                            HospitalizationCode = referral.Code,
                            Reason = CancellationReason.PatientRequest,
                        })).Referral);
                        break;
                    case "reschedule" when referral is not null:
                        Acknowledge(referral, (await polyclinics[referral.Polyclinic].UnaryAsync(Api.Reschedule, new RescheduleReferralRequest
                        {
                            RequestId = requestId,
                            HospitalizationCode = referral.Code,
                            PlannedDate = Date(date),
                            Reason = "the patient asked",
                        })).Referral);
                        break;
                    case "schedule" when referral is not null:
                        Acknowledge(referral, (await hospitals[referral.Grain.HospitalIndex].UnaryAsync(Api.Schedule, new ScheduleReferralRequest
                        {
                            RequestId = requestId,
                            HospitalizationCode = referral.Code,
                            PlannedDate = random.Next(2) == 0 ? null : Date(date),
                            Reason = "the ward's plan",
                        })).Referral);
                        break;
                    case "admit" when referral is not null:
                        Acknowledge(referral, (await hospitals[referral.Grain.HospitalIndex].UnaryAsync(Api.Admit, new AdmitPatientRequest { RequestId = requestId, HospitalizationCode = referral.Code })).Referral);
                        break;
                    case "refuse" when referral is not null:
                        Acknowledge(referral, (await hospitals[referral.Grain.HospitalIndex].UnaryAsync(Api.Refuse, new RefusePatientRequest
                        {
                            RequestId = requestId,
                            HospitalizationCode = referral.Code,
                            Reason = RefusalReason.WrongProfile,
                        })).Referral);
                        break;
                    case "report":
                    {
                        var total = random.Next(0, 200);
                        var occupied = random.Next(0, total + 1);
                        var free = random.Next(0, total - occupied + 1);
                        await hospitals[grain.HospitalIndex].UnaryAsync(Api.ReportBeds, new ReportBedsRequest
                        {
                            RequestId = requestId,
                            HospitalId = grain.Hospital,
                            Reports = { new BedReport { BedProfileCode = grain.Profile, Total = total, Occupied = occupied, Free = free } },
                        });
                        reports.GetOrAdd((grain.Hospital, grain.Profile), _ => []).Add($"{total}/{occupied}/{free}");
                        break;
                    }

                    case "capacity":
                    {
                        var slots = random.Next(0, 6);
                        await hospitals[grain.HospitalIndex].UnaryAsync(Api.SetAdmissionCapacity, new SetAdmissionCapacityRequest
                        {
                            RequestId = requestId,
                            HospitalId = grain.Hospital,
                            BedProfileCode = grain.Profile,
                            Days = { new Contract.V1.AdmissionDay { Date = Date(date), Slots = slots } },
                        });
                        maxSlots.AddOrUpdate((grain, date), slots, (_, before) => Math.Max(before, slots));
                        break;
                    }

                    default:
                        outcomes.AddOrUpdate($"{name} (nothing yet)", 1, (_, n) => n + 1);
                        return;
                }

                acknowledgedRequests.Add(requestId);
                outcomes.AddOrUpdate($"{name} OK", 1, (_, n) => n + 1);
            }
            catch (RpcException ex)
            {
                var reason = ex.Status.Detail.Split(' ')[0];
                outcomes.AddOrUpdate($"{name} {ex.StatusCode} {reason}", 1, (_, n) => n + 1);

                // What a racing call may meet; anything else is a defect.
                var expected = (ex.StatusCode, reason) is
                    (StatusCode.FailedPrecondition, "[NO_FREE_SLOT]" or "[INVALID_TRANSITION]") or
                    (StatusCode.InvalidArgument, "[UNCHANGED]");
                if (!expected)
                {
                    unexpected.Add($"step {index} {name}: {ex.StatusCode} {ex.Status.Detail}");
                }
            }
        }

        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, Steps), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, _) => await StepAsync(i));
        clock.Stop();
        output.WriteLine($"seed {Seed}: {Steps} calls over {grains.Count} grains of 4 hospitals in {clock.ElapsedMilliseconds} ms; {known.Count} referrals");
        foreach (var (outcome, count) in outcomes.OrderBy(o => o.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"  {outcome}: {count}");
        }

        Assert.Empty(unexpected);
        await CheckAsync(grains, day, maxSlots, known.Values.ToArray(), reports, hospitals, polyclinics);
        await CheckAuditAsync(acknowledgedRequests.ToHashSet());

        // What was acknowledged was persisted: the same after every grain is loaded again.
        foreach (var channel in hospitals.Concat(polyclinics))
        {
            channel.Dispose();
        }

        await gateway.RestartAsync();
        hospitals = Enumerable.Range(0, 5).Select(i => gateway.ChannelFor(gateway.Hospital(i))).ToArray();
        polyclinics = Enumerable.Range(0, 2).Select(i => gateway.ChannelFor(gateway.Polyclinic(i))).ToArray();
        try
        {
            await CheckAsync(grains, day, maxSlots, known.Values.ToArray(), reports, hospitals, polyclinics);
        }
        finally
        {
            foreach (var channel in hospitals.Concat(polyclinics))
            {
                channel.Dispose();
            }
        }
    }

    private async Task CheckAsync(
        List<Grain> grains, DateOnly[] day, ConcurrentDictionary<(Grain, DateOnly), int> maxSlots, Known[] known,
        ConcurrentDictionary<(string, string), ConcurrentBag<string>> reports, GrpcChannel[] hospitals, GrpcChannel[] polyclinics)
    {
        foreach (var grain in grains)
        {
            Assert.Empty(await gateway.InvariantProblemsAsync(grain.Hospital, grain.Profile));

            // The whole active queue, in order: positions 1..n, and per day no more than the day ever offered.
            var queue = new List<Referral>();
            var token = "";
            do
            {
                var page = await hospitals[grain.HospitalIndex].UnaryAsync(Api.ListQueue, new ListQueueRequest { HospitalId = grain.Hospital, BedProfileCode = grain.Profile, PageSize = 1000, PageToken = token });
                queue.AddRange(page.Referrals);
                token = page.NextPageToken;
            }
            while (token.Length > 0);

            Assert.Equal(Enumerable.Range(1, queue.Count), queue.Select(r => r.QueuePosition));
            var calendar = await gateway.CalendarAsync(grain.Hospital, grain.Profile);
            foreach (var d in day)
            {
                var reserved = calendar.Where(c => c.Date == d).Select(c => c.Reserved).SingleOrDefault();
                Assert.Equal(queue.Count(r => r.PlannedDate.Equals(Date(d))), reserved);
                Assert.True(reserved <= maxSlots.GetValueOrDefault((grain, d)), $"{grain.Hospital}/{grain.Profile} {d}: {reserved} reserved, never more than {maxSlots.GetValueOrDefault((grain, d))} slots");
            }

            // What the patients are told agrees with the hospital's queue.
            foreach (var referral in queue.Where(r => known.Any(k => k.Code == r.HospitalizationCode)))
            {
                var key = known.Single(k => k.Code == referral.HospitalizationCode).AccessKey;
                var status = await gateway.Anonymous.UnaryAsync(Api.QueueStatus, new GetQueueStatusRequest { HospitalizationCode = referral.HospitalizationCode, AccessKey = key });
                Assert.Equal((referral.Status, referral.QueuePosition), (status.Status.Status, status.Status.QueuePosition));
            }
        }

        // Free beds never negative, and the census is one the hospital reported.
        foreach (var hospital in grains.GroupBy(g => g.Hospital))
        {
            var info = await gateway.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = hospital.Key });
            foreach (var census in info.Census)
            {
                Assert.True(census.Free >= 0 && census.Occupied >= 0 && census.Free <= census.Total - census.Occupied, $"{hospital.Key}/{census.BedProfileCode}: {census}");
                if (reports.TryGetValue((hospital.Key, census.BedProfileCode), out var reported))
                {
                    Assert.Contains($"{census.Total}/{census.Occupied}/{census.Free}", reported);
                }
            }
        }

        // Every acknowledged referral, by its code: the last acknowledged status and exactly the acknowledged events.
        foreach (var referral in known)
        {
            var stored = (await polyclinics[referral.Polyclinic].UnaryAsync(Api.GetReferral, new GetReferralRequest { HospitalizationCode = referral.Code })).Referral;
            var last = referral.Acknowledged.MaxBy(a => a.Key);
            Assert.True(last.Value == stored.Status, $"{referral.Code}: last acknowledged {last.Value} (event {last.Key}), stored {stored.Status}");
            Assert.Equal(referral.Acknowledged.Keys.Order(), stored.History.Select(e => e.Sequence));
            Assert.All(stored.History, e => Assert.True(
                e.ActorOrganizationId.Length > 0 && e.OccurredAt is not null && e.Reason.Length > 0 && e.Action.Length > 0,
                $"{referral.Code} event {e.Sequence} lacks actor, time, action or reason"));
        }
    }

    /// <summary>Each acknowledged change has its OK record in the audit trail, with its actor and time.</summary>
    private async Task CheckAuditAsync(HashSet<string> acknowledged)
    {
        var actions = new[] { "ReferralService/RegisterReferral", "ReferralService/CancelReferral", "ReferralService/RescheduleReferral", "HospitalService/ScheduleReferral", "HospitalService/AdmitPatient", "HospitalService/RefusePatient", "HospitalService/ReportBeds", "HospitalService/SetAdmissionCapacity" };
        var ok = new HashSet<string>();
        foreach (var action in actions)
        {
            foreach (var record in (await gateway.AuditAsync($"bedbureau.v1.{action}")).Where(r => r.Outcome == "OK" && r.RequestId.StartsWith($"il-{Seed}-", StringComparison.Ordinal)))
            {
                Assert.True(record.ActorOrganizationId.Length > 0 && record.OccurredAt is not null, $"audit record {record.Id} lacks actor or time");

                // ReportBeds records "<request_id>/<profile>".
                ok.Add(record.RequestId.Split('/')[0]);
            }
        }

        Assert.Empty(acknowledged.Where(id => !id.Contains("-open-", StringComparison.Ordinal)).Except(ok));
    }
}

[Collection(SqliteConcurrencyCollection.Name)]
public sealed class RandomInterleavingOnSqliteTests(SqliteConcurrencyGateway gateway, ITestOutputHelper output)
    : RandomInterleavingTests<SqliteConcurrencyGateway>(gateway, output);

[Collection(PostgresConcurrencyCollection.Name)]
public sealed class RandomInterleavingOnPostgresTests(PostgresConcurrencyGateway gateway, ITestOutputHelper output)
    : RandomInterleavingTests<PostgresConcurrencyGateway>(gateway, output);
