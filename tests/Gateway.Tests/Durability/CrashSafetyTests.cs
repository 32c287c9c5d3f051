using System.Collections.Concurrent;
using System.Diagnostics;
using BedBureau.Contract.V1;
using BedBureau.Gateway.ReferenceData;
using BedBureau.Gateway.Sample;
using BedBureau.Gateway.Tests.EndToEnd;
using BedBureau.Gateway.Tests.Storage;
using BedBureau.Wire.Client;
using Xunit.Abstractions;
using WorkingDayCalendar = BedBureau.BedGrain.Domain.WorkingDayCalendar;

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
    /// <summary>Kills per test: a few in CI; BEDBUREAU_CRASH_KILLS=20 (or more) for the long run.</summary>
    private static readonly int Kills = int.TryParse(Environment.GetEnvironmentVariable("BEDBUREAU_CRASH_KILLS"), out var kills) && kills > 0 ? kills : 4;

    /// <summary>Load clients, each with its own channels kept across kills: 2 calendar, 2 bed reports, 2 cancel, 2 patient lookups, 2 searches, 6 registrations.</summary>
    private const int Workers = 16;

    /// <summary>How long the load clients may take to be served again after a restart (a loaded machine is slow).</summary>
    private static readonly TimeSpan ResumeBound = TimeSpan.FromSeconds(30);

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
        var run = Stopwatch.StartNew();
        var resumed = new List<TimeSpan>();

        // The same clients run through every kill and restart, as a day's clients would: they must resume by themselves.
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, Workers).Select(i => world.WorkAsync(gateway, i, stop.Token)).ToArray();
        for (var kill = 0; kill <= Kills; kill++)
        {
            var started = Stopwatch.GetTimestamp();
            var acknowledged = world.Acknowledged.Count;
            while (!world.EveryWorkerServedSince(started))
            {
                Assert.True(Stopwatch.GetElapsedTime(started) < ResumeBound,
                    $"after restart {kill}, load clients not served again within {ResumeBound}: {string.Join(", ", world.WorkersNotServedSince(started))}\n{gateway.Output}");
                await Task.Delay(20);
            }

            resumed.Add(Stopwatch.GetElapsedTime(started));

            // Registrations are being acknowledged when the kill falls (slots freed by cancellations may be few).
            while (world.Acknowledged.Count == acknowledged)
            {
                Assert.True(Stopwatch.GetElapsedTime(started) < ResumeBound, $"after restart {kill}, no registration acknowledged within {ResumeBound}\n{gateway.Output}");
                await Task.Delay(20);
            }
            if (kill == Kills)
            {
                break;
            }

            // The kill falls at a random moment of a round in which every client is being served.
            await Task.Delay(TimeSpan.FromMilliseconds(random.Next(100, 1500)));
            await gateway.KillAsync();
            await gateway.StartAsync();
        }

        stop.Cancel();
        await Task.WhenAll(workers);
        Assert.True(world.Acknowledged.Count > 20, $"only {world.Acknowledged.Count} registrations were acknowledged");
        Assert.True(world.LostLookups.IsEmpty, $"acknowledged referrals not found by their patient's lookup: {string.Join(", ", world.LostLookups)}");
        var active = await world.VerifyAsync(gateway);
        output.WriteLine($"{Kills} kills in {run.Elapsed.TotalSeconds:F0} s: {world.Acknowledged.Count} registrations acknowledged, "
            + $"{world.Unacknowledged.Count - world.Acknowledged.Count} not acknowledged (refused or cut off), {world.Lookups} patient lookups of acknowledged referrals (0 not found), "
            + $"{active} active referrals after the last restart, no day overbooked; all {Workers} load clients served again {resumed.Max().TotalSeconds:F1} s at most after a (re)start");
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
        private readonly long[] _lastServed = new long[Workers];
        private int _serial;
        private int _lookups;

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

        /// <summary>Acknowledged referrals a patient's lookup did not find (a lost acknowledgement).</summary>
        public ConcurrentBag<string> LostLookups { get; } = [];

        public int Lookups => Volatile.Read(ref _lookups);

        public bool EveryWorkerServedSince(long timestamp) => !WorkersNotServedSince(timestamp).Any();

        public IEnumerable<int> WorkersNotServedSince(long timestamp) => Enumerable.Range(0, Workers).Where(w => Volatile.Read(ref _lastServed[w]) < timestamp);

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

        /// <summary>
        /// One load client until the test stops it, through kills and restarts: calendar and bed
        /// updates, cancellations, patients' lookups, searches and (most) registrations.
        /// </summary>
        public async Task WorkAsync(GatewayProcess gateway, int worker, CancellationToken stop)
        {
            var random = new Random(worker * 7_919 + Environment.TickCount);
            using var polyclinic = gateway.ChannelFor(Polyclinic);
            using var anonymous = GrpcChannel.ForAddress(gateway.GrpcAddress);
            var hospitals = Grains.Select(g => g.Key).Distinct().ToDictionary(k => k.organization_id, gateway.ChannelFor);
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    var grain = Grains[random.Next(Grains.Count)];
                    var day = Today.AddDays(random.Next(1, 9));
                    try
                    {
                        switch (worker % 8)
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
                            case 3 when Acknowledged.ElementAtOrDefault(random.Next(Math.Max(1, Acknowledged.Count))) is { } looked:
                                await LookUpAsync(anonymous, looked, stop);
                                break;
                            case 4:
                                await polyclinic.UnaryAsync(Api.Search, new SearchFreeBedsRequest { BedProfileCode = grain.ProfileCode, MaxResults = 20 }, Deadline(stop));
                                break;
                            default:
                                await RegisterAsync(polyclinic, grain, day, random, stop);
                                break;
                        }

                        Volatile.Write(ref _lastServed[worker], Stopwatch.GetTimestamp());
                    }
                    catch (Wire.RpcException ex) when (ex.StatusCode is Wire.StatusCode.FailedPrecondition or Wire.StatusCode.AlreadyExists)
                    {
                        // Refused (no free slot, already cancelled): the gateway served the call.
                        Volatile.Write(ref _lastServed[worker], Stopwatch.GetTimestamp());
                    }
                    catch (Exception ex) when (ex is Wire.RpcException or HttpRequestException or OperationCanceledException or IOException)
                    {
                        // The gateway died under the call or is not back yet: the outcome is what the checks look at; retry soon.
                        await Task.Delay(50, CancellationToken.None);
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

        /// <summary>A patient's lookup of an acknowledged referral: must find it, in an acknowledged (or in-flight) state.</summary>
        private async Task LookUpAsync(GrpcChannel anonymous, Registration registration, CancellationToken stop)
        {
            try
            {
                await anonymous.UnaryAsync(Api.QueueStatus, new GetQueueStatusRequest { HospitalizationCode = registration.Code, AccessKey = registration.AccessKey }, Deadline(stop));
                Interlocked.Increment(ref _lookups);
            }
            catch (Wire.RpcException ex) when (ex.StatusCode == Wire.StatusCode.NotFound)
            {
                LostLookups.Add(registration.Code);
                throw;
            }
        }

        private async Task RegisterAsync(GrpcChannel polyclinic, Grain grain, DateOnly day, Random random, CancellationToken stop)
        {
            var registration = new Registration(new RegisterReferralRequest
            {
                RequestId = Guid.NewGuid().ToString(),
                PatientIin = NationalDataset.Iin(new Random(Interlocked.Increment(ref _serial) * 31 + random.Next()), Today, grain.Child),
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
