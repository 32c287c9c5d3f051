using System.Collections.Concurrent;
using System.Diagnostics;
using WorkingDayCalendar = BedBureau.BedGrain.Domain.WorkingDayCalendar;
using BedBureau.Contract.V1;
using BedBureau.Gateway.ReferenceData;
using BedBureau.Gateway.Sample;
using BedBureau.Gateway.Tests.EndToEnd;
using BedBureau.Gateway.Tests.Storage;
using BedBureau.Wire.Client;
using Xunit.Abstractions;

namespace BedBureau.Gateway.Tests.Durability;

/// <summary>
/// The gateway as a real process under concurrent registrations, cancellations, bed reports
/// and calendar changes, killed with SIGKILL at random moments and started again on the same
/// storage. Afterwards every acknowledged referral is there in its last acknowledged state,
/// every unacknowledged registration is all there or not at all (its retry answers with the
/// referral it made, or makes it now), and no day holds more active referrals than the most
/// slots it was ever given.
/// </summary>
public sealed class CrashSafetyTests(ITestOutputHelper output)
{
    private const int Kills = 4;

    [Fact]
    public Task Nothing_acknowledged_is_lost_and_nothing_is_half_written_across_SIGKILLs_on_SQLite() =>
        RunAsync([]);

    [Fact]
    public async Task Nothing_acknowledged_is_lost_and_nothing_is_half_written_across_SIGKILLs_on_PostgreSQL() =>
        await RunAsync([$"--ConnectionStrings:Postgres={await TestDatabases.CreatePostgresDatabaseAsync()}", "--Security:PersonalDataSecret=crash-test-secret"]);

    private async Task RunAsync(string[] storage)
    {
        await using var gateway = new GatewayProcess([.. storage, "--Sample:Hospitals=12", "--Sample:Referrals=0"]);
        await gateway.StartAsync();
        var world = await World.CreateAsync(gateway);
        var random = new Random(Environment.TickCount);

        for (var round = 0; round < Kills; round++)
        {
            using var stop = new CancellationTokenSource();
            var acknowledged = world.Acknowledged.Count;
            var workers = Enumerable.Range(0, 12).Select(i => world.WorkAsync(gateway, i, stop.Token)).ToArray();

            // The kill falls at a random moment once the round is under way (a loaded machine starts slowly).
            var waited = Stopwatch.StartNew();
            while (world.Acknowledged.Count < acknowledged + 5 && waited.Elapsed < TimeSpan.FromSeconds(20))
            {
                await Task.Delay(20);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(random.Next(100, 1500)));
            await gateway.KillAsync();
            stop.Cancel();
            await Task.WhenAll(workers);
            await gateway.StartAsync();
        }

        Assert.True(world.Acknowledged.Count > 20, $"only {world.Acknowledged.Count} registrations were acknowledged");
        var active = await world.VerifyAsync(gateway);
        output.WriteLine($"{Kills} kills: {world.Acknowledged.Count} registrations acknowledged, {world.Unacknowledged.Count - world.Acknowledged.Count} not acknowledged (refused or cut off), {active} active referrals after the last restart");
    }

    private sealed record Grain(string HospitalId, string ProfileCode, bool Child, GatewayFixture.DemoKey Key);

    private sealed class Registration(RegisterReferralRequest request, Grain grain)
    {
        public RegisterReferralRequest Request { get; } = request;

        public Grain Grain { get; } = grain;

        public string Code { get; set; } = "";

        public string AccessKey { get; set; } = "";

        public ReferralStatus Status { get; set; } = ReferralStatus.Registered;

        /// <summary>A change sent but not acknowledged: after a crash either state is right.</summary>
        public ReferralStatus? InFlight { get; set; }
    }

    private sealed class World
    {
        private readonly ConcurrentDictionary<(Grain, DateOnly), int> _maxSlots = new();
        private int _serial;

        private World(IReadOnlyList<Grain> grains, GatewayFixture.DemoKey polyclinic, DateOnly today)
        {
            Grains = grains;
            Polyclinic = polyclinic;
            Today = today;
        }

        public IReadOnlyList<Grain> Grains { get; }

        public GatewayFixture.DemoKey Polyclinic { get; }

        public DateOnly Today { get; }

        public ConcurrentBag<Registration> Acknowledged { get; } = [];

        public ConcurrentBag<Registration> Unacknowledged { get; } = [];

        private IEnumerable<DateOnly> Days => Enumerable.Range(1, 8).Select(d => Today.AddDays(d));

        /// <summary>The demo hospitals' first two profiles, each with a known calendar for the next days.</summary>
        public static async Task<World> CreateAsync(GatewayProcess gateway)
        {
            var grains = new List<Grain>();
            foreach (var key in gateway.Keys.Where(k => k.kind == "HOSPITAL"))
            {
                using var anonymous = GrpcChannel.ForAddress(gateway.GrpcAddress);
                var hospital = await anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = key.organization_id });
                grains.AddRange(hospital.Hospital.BedProfileCodes.Take(2).Select(p =>
                    new Grain(key.organization_id, p, ReferenceCatalog.BedProfiles.Single(b => b.Code == p).IsChild, key)));
            }

            var world = new World(grains, gateway.Keys.First(k => k.kind == "POLYCLINIC"), WorkingDayCalendar.LocalDate(DateTimeOffset.UtcNow));
            foreach (var grain in grains)
            {
                using var channel = gateway.ChannelFor(grain.Key);
                var request = new SetAdmissionCapacityRequest { RequestId = Guid.NewGuid().ToString(), HospitalId = grain.HospitalId, BedProfileCode = grain.ProfileCode };
                foreach (var day in world.Days)
                {
                    world._maxSlots[(grain, day)] = 4;
                    request.Days.Add(new AdmissionDay { Date = GatewayFixture.Date(day), Slots = 4 });
                }

                await channel.UnaryAsync(Api.SetAdmissionCapacity, request);
            }

            return world;
        }

        /// <summary>One client until the gateway dies: mostly registrations, some cancellations, calendar and bed updates.</summary>
        public async Task WorkAsync(GatewayProcess gateway, int worker, CancellationToken stop)
        {
            var random = new Random(worker * 7_919 + Environment.TickCount);
            using var polyclinic = gateway.ChannelFor(Polyclinic);
            var hospitals = Grains.Select(g => g.Key).Distinct().ToDictionary(k => k.organization_id, gateway.ChannelFor);
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    var grain = Grains[random.Next(Grains.Count)];
                    var day = Today.AddDays(random.Next(1, 9));
                    try
                    {
                        switch (worker % 6)
                        {
                            case 0:
                                var slots = random.Next(1, 7);
                                _maxSlots.AddOrUpdate((grain, day), slots, (_, max) => Math.Max(max, slots));
                                await hospitals[grain.HospitalId].UnaryAsync(Api.SetAdmissionCapacity, new SetAdmissionCapacityRequest
                                {
                                    RequestId = Guid.NewGuid().ToString(),
                                    HospitalId = grain.HospitalId,
                                    BedProfileCode = grain.ProfileCode,
                                    Days = { new AdmissionDay { Date = GatewayFixture.Date(day), Slots = slots } },
                                }, Deadline(stop));
                                break;
                            case 1:
                                var total = random.Next(10, 60);
                                var occupied = random.Next(0, total + 1);
                                await hospitals[grain.HospitalId].UnaryAsync(Api.ReportBeds, new ReportBedsRequest
                                {
                                    RequestId = Guid.NewGuid().ToString(),
                                    HospitalId = grain.HospitalId,
                                    Reports = { new BedReport { BedProfileCode = grain.ProfileCode, Total = total, Occupied = occupied, Free = total - occupied } },
                                }, Deadline(stop));
                                break;
                            case 2 when random.Next(3) == 0 && Acknowledged.FirstOrDefault(r => r.InFlight is null && r.Status == ReferralStatus.Registered && random.Next(4) == 0) is { } victim:
                                victim.InFlight = ReferralStatus.Cancelled;
                                await polyclinic.UnaryAsync(Api.Cancel, new CancelReferralRequest
                                {
                                    RequestId = Guid.NewGuid().ToString(),
                                    HospitalizationCode = victim.Code,
                                    Reason = Contract.V1.CancellationReason.PatientRequest,
                                }, Deadline(stop));
                                victim.Status = ReferralStatus.Cancelled;
                                victim.InFlight = null;
                                break;
                            default:
                                await RegisterAsync(polyclinic, grain, day, random, stop);
                                break;
                        }
                    }
                    catch (Exception ex) when (ex is Wire.RpcException or HttpRequestException or OperationCanceledException or IOException)
                    {
                        // Refused, or the gateway died under the call: the outcome is what the checks look at.
                    }
                }
            }
            finally
            {
                foreach (var channel in hospitals.Values)
                {
                    channel.Dispose();
                }
            }
        }

        private async Task RegisterAsync(GrpcChannel polyclinic, Grain grain, DateOnly day, Random random, CancellationToken stop)
        {
            var registration = new Registration(new RegisterReferralRequest
            {
                RequestId = Guid.NewGuid().ToString(),
                PatientIin = NationalDataset.Iin(new Random(Interlocked.Increment(ref _serial) * 31 + random.Next()), Today.AddDays(10), grain.Child),
                Icd10Code = "K80.1",
                BedProfileCode = grain.ProfileCode,
                HospitalId = grain.HospitalId,
                PlannedDate = GatewayFixture.Date(day),
                Purpose = TreatmentPurpose.Conservative,
                FinanceSource = FinanceSource.GuaranteedVolume,
                PatientRegionCode = "75",
            }, grain);
            Unacknowledged.Add(registration);
            var response = await polyclinic.UnaryAsync(Api.Register, registration.Request, Deadline(stop));
            registration.Code = response.HospitalizationCode;
            registration.AccessKey = response.AccessKey;
            Acknowledged.Add(registration);
        }

        private static CallOptions Deadline(CancellationToken stop) => new(Deadline: DateTime.UtcNow.AddSeconds(5), CancellationToken: stop);

        public async Task<int> VerifyAsync(GatewayProcess gateway)
        {
            using var anonymous = GrpcChannel.ForAddress(gateway.GrpcAddress);
            using var polyclinic = gateway.ChannelFor(Polyclinic);

            // Acknowledged: there, in the last acknowledged state (or the one in flight at the kill).
            foreach (var registration in Acknowledged)
            {
                var status = (await anonymous.UnaryAsync(Api.QueueStatus, new GetQueueStatusRequest { HospitalizationCode = registration.Code, AccessKey = registration.AccessKey })).Status;
                Assert.True(status.Status == registration.Status || status.Status == registration.InFlight,
                    $"{registration.Code}: {status.Status}, acknowledged {registration.Status}, in flight {registration.InFlight}");
            }

            // Unacknowledged: a retry answers with the referral the request made before the kill, or makes it now.
            var expected = Acknowledged.Where(r => (r.InFlight ?? r.Status) == ReferralStatus.Registered || r.Status == ReferralStatus.Registered)
                .Select(r => r.Code).ToHashSet();
            var acknowledgedCodes = Acknowledged.Select(r => r.Code).ToHashSet();
            var maybeCancelled = Acknowledged.Where(r => r.InFlight is not null).Select(r => r.Code).ToHashSet();
            foreach (var registration in Unacknowledged.Where(r => r.Code.Length == 0))
            {
                try
                {
                    var retried = await polyclinic.UnaryAsync(Api.Register, registration.Request);
                    Assert.DoesNotContain(retried.HospitalizationCode, acknowledgedCodes);
                    expected.Add(retried.HospitalizationCode);
                }
                catch (Wire.RpcException ex) when (ex.StatusCode is Wire.StatusCode.FailedPrecondition or Wire.StatusCode.InvalidArgument or Wire.StatusCode.AlreadyExists)
                {
                    // No free slot that day (or the date has passed): it was not registered.
                }
            }

            // Every active referral in the queues is one of those, and no day is overbooked.
            var active = new List<Referral>();
            foreach (var grain in Grains)
            {
                using var hospital = gateway.ChannelFor(grain.Key);
                var queue = await hospital.UnaryAsync(Api.ListQueue, new ListQueueRequest { HospitalId = grain.HospitalId, BedProfileCode = grain.ProfileCode, PageSize = 1000 });
                Assert.True(queue.NextPageToken.Length == 0, "more than 1000 active referrals in one grain");
                active.AddRange(queue.Referrals);
                foreach (var day in queue.Referrals.GroupBy(r => new DateOnly(r.PlannedDate.Year, r.PlannedDate.Month, r.PlannedDate.Day)))
                {
                    var max = _maxSlots.GetValueOrDefault((grain, day.Key));
                    Assert.True(day.Count() <= max, $"{grain.HospitalId}/{grain.ProfileCode} {day.Key}: {day.Count()} active referrals, never more than {max} slots");
                }
            }

            var activeCodes = active.Select(r => r.HospitalizationCode).ToHashSet();
            Assert.Empty(activeCodes.Except(expected).Except(maybeCancelled));
            Assert.Empty(expected.Except(activeCodes).Except(maybeCancelled));
            return activeCodes.Count;
        }
    }
}
