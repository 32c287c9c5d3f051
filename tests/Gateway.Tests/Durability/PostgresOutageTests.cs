using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using BedBureau.Contract.Health.V1;
using BedBureau.Contract.V1;
using BedBureau.Gateway.Tests.EndToEnd;
using BedBureau.Wire;
using BedBureau.Wire.Client;
using Xunit.Abstractions;
using static BedBureau.Gateway.Tests.EndToEnd.GatewayFixture;

namespace BedBureau.Gateway.Tests.Durability;

/// <summary>The gateway on a PostgreSQL of its own, which the test stops and starts.</summary>
public sealed class OwnPostgresGatewayFixture : GatewayFixture
{
    public PostgresServer Postgres { get; } = new();

    protected override async Task<IEnumerable<string>> SettingsAsync()
    {
        await Postgres.InitAsync();
        return [$"--ConnectionStrings:Postgres={Postgres.ConnectionString}", "--Security:PersonalDataSecret=outage-test-secret", "--Health:StorageCheckSeconds=0.5"];
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Postgres.DisposeAsync();
    }
}

/// <summary>
/// PostgreSQL stopped under a running gateway: changes fail UNAVAILABLE within their deadline
/// and change nothing, reads of active grains go on, health says NOT_SERVING and /readyz 503
/// (the process stays live); PostgreSQL back, the gateway serves again by itself.
/// </summary>
public sealed class PostgresOutageTests(OwnPostgresGatewayFixture gateway, ITestOutputHelper output) : IClassFixture<OwnPostgresGatewayFixture>
{
    private static readonly TimeSpan CallDeadline = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Changes_fail_unavailable_reads_go_on_and_the_gateway_recovers_without_a_restart()
    {
        await gateway.Postgres.EnsureRunningAsync();
        var hospitalId = gateway.Hospital().organization_id;
        var info = await gateway.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = hospitalId });
        var profile = info.Hospital.BedProfileCodes[0];
        using var polyclinic = gateway.ChannelFor(gateway.Polyclinic());
        using var hospital = gateway.ChannelFor(gateway.Hospital());
        RegisterReferralRequest Registration() => Scenario.NewPatientRegistration(gateway, hospitalId, profile, inDays: 3);
        var registered = await polyclinic.UnaryAsync(Api.Register, Registration());
        var queueBefore = await hospital.UnaryAsync(Api.ListQueue, new ListQueueRequest { HospitalId = hospitalId, BedProfileCode = profile });

        await gateway.Postgres.StopAsync();

        // Changes: UNAVAILABLE, within the deadline.
        var duringOutage = Registration();
        foreach (var change in new Func<Task>[]
        {
            () => polyclinic.UnaryAsync(Api.Register, duringOutage, CallOptions.WithTimeout(CallDeadline)),
            () => polyclinic.UnaryAsync(Api.Cancel, new CancelReferralRequest { RequestId = Guid.NewGuid().ToString(), HospitalizationCode = registered.HospitalizationCode, Reason = CancellationReason.PatientRequest }, CallOptions.WithTimeout(CallDeadline)),
            () => hospital.UnaryAsync(Api.Schedule, new ScheduleReferralRequest { RequestId = Guid.NewGuid().ToString(), HospitalizationCode = registered.HospitalizationCode }, CallOptions.WithTimeout(CallDeadline)),
        })
        {
            var watch = Stopwatch.StartNew();
            var error = await Assert.ThrowsAsync<RpcException>(change);
            Assert.Equal(StatusCode.Unavailable, error.StatusCode);
            Assert.True(watch.Elapsed < CallDeadline, $"UNAVAILABLE after {watch.Elapsed}");
        }

        // Reads of active grains: served.
        var status = await gateway.Anonymous.UnaryAsync(Api.QueueStatus, new GetQueueStatusRequest { HospitalizationCode = registered.HospitalizationCode, AccessKey = registered.AccessKey });
        Assert.Equal(ReferralStatus.Registered, status.Status.Status);
        var queue = await hospital.UnaryAsync(Api.ListQueue, new ListQueueRequest { HospitalId = hospitalId, BedProfileCode = profile });
        Assert.Equal(queueBefore.Referrals.Select(r => r.HospitalizationCode), queue.Referrals.Select(r => r.HospitalizationCode));
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, await HealthBecomesAsync(HealthCheckResponse.Types.ServingStatus.NotServing));

        await gateway.Postgres.StartAsync();
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, await HealthBecomesAsync(HealthCheckResponse.Types.ServingStatus.Serving));

        // Nothing of the outage was acknowledged nor written; changes work again.
        status = await gateway.Anonymous.UnaryAsync(Api.QueueStatus, new GetQueueStatusRequest { HospitalizationCode = registered.HospitalizationCode, AccessKey = registered.AccessKey });
        Assert.Equal(ReferralStatus.Registered, status.Status.Status);
        queue = await hospital.UnaryAsync(Api.ListQueue, new ListQueueRequest { HospitalId = hospitalId, BedProfileCode = profile });
        Assert.Equal(queueBefore.Referrals.Select(r => r.HospitalizationCode), queue.Referrals.Select(r => r.HospitalizationCode));
        var afterwards = await polyclinic.UnaryAsync(Api.Register, duringOutage);
        Assert.DoesNotContain(afterwards.HospitalizationCode, queueBefore.Referrals.Select(r => r.HospitalizationCode));
        await polyclinic.UnaryAsync(Api.Cancel, new CancelReferralRequest { RequestId = Guid.NewGuid().ToString(), HospitalizationCode = registered.HospitalizationCode, Reason = CancellationReason.PatientRequest });
        status = await gateway.Anonymous.UnaryAsync(Api.QueueStatus, new GetQueueStatusRequest { HospitalizationCode = registered.HospitalizationCode, AccessKey = registered.AccessKey });
        Assert.Equal(ReferralStatus.Cancelled, status.Status.Status);
    }

    [Fact]
    public async Task Readiness_turns_503_while_postgres_is_down_and_liveness_stays_200()
    {
        await gateway.Postgres.EnsureRunningAsync();
        using var http = new HttpClient { BaseAddress = new Uri(gateway.HttpAddress), DefaultRequestVersion = HttpVersion.Version11 };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/readyz")).StatusCode);

        await gateway.Postgres.StopAsync();
        HttpStatusCode readyDuringOutage, liveDuringOutage;
        try
        {
            readyDuringOutage = await ReadyzBecomesAsync(http, HttpStatusCode.ServiceUnavailable);
            liveDuringOutage = (await http.GetAsync("/healthz")).StatusCode;
        }
        finally
        {
            await gateway.Postgres.StartAsync();
        }

        Assert.Equal(HttpStatusCode.ServiceUnavailable, readyDuringOutage);
        Assert.Equal(HttpStatusCode.OK, liveDuringOutage);
        Assert.Equal(HttpStatusCode.OK, await ReadyzBecomesAsync(http, HttpStatusCode.OK));
    }

    private static async Task<HttpStatusCode> ReadyzBecomesAsync(HttpClient http, HttpStatusCode wanted)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var status = (await http.GetAsync("/readyz")).StatusCode;
            if (status == wanted || waited.Elapsed > TimeSpan.FromSeconds(20))
            {
                return status;
            }

            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Under_load_PostgreSQL_stopped_and_started_loses_nothing_acknowledged_and_the_load_recovers_unattended()
    {
        await gateway.Postgres.EnsureRunningAsync();
        // Two hospitals with room for the whole run; registrations, patients' lookups and bed reports in parallel.
        var targets = new List<(DemoKey Key, string Profile)>();
        for (var index = 1; index < 3; index++)
        {
            var key = gateway.Hospital(index);
            var profile = (await gateway.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = key.organization_id })).Hospital.BedProfileCodes[0];
            await Scenario.OpenDayAsync(gateway, key, profile, inDays: 7, slots: 10_000);
            targets.Add((key, profile));
        }

        var acknowledged = new ConcurrentBag<RegisterReferralResponse>();
        var failed = new ConcurrentBag<(StatusCode Status, TimeSpan Elapsed)>();
        var lookupFailures = new ConcurrentBag<string>();
        long lastAcknowledged = 0;
        var acknowledgedCalls = new ConcurrentBag<(long Started, long Acknowledged)>();
        using var stop = new CancellationTokenSource();
        var load = Enumerable.Range(0, 8).Select(worker => Task.Run(async () =>
        {
            var random = new Random(worker);
            using var polyclinic = gateway.ChannelFor(gateway.Polyclinic());
            using var hospitalClient = gateway.ChannelFor(targets[worker % 2].Key);
            while (!stop.IsCancellationRequested)
            {
                var (key, profile) = targets[worker % 2];
                var started = Stopwatch.GetTimestamp();
                try
                {
                    switch (worker % 4)
                    {
                        case 0 when acknowledged.ElementAtOrDefault(random.Next(Math.Max(1, acknowledged.Count))) is { } looked:
                            // A patient's lookup: reads go on through the outage.
                            try
                            {
                                await gateway.Anonymous.UnaryAsync(Api.QueueStatus, new GetQueueStatusRequest { HospitalizationCode = looked.HospitalizationCode, AccessKey = looked.AccessKey }, CallOptions.WithTimeout(CallDeadline));
                            }
                            catch (RpcException ex)
                            {
                                lookupFailures.Add($"{looked.HospitalizationCode}: {ex.StatusCode} {ex.Status.Detail}");
                            }

                            await Task.Delay(10);
                            continue;
                        case 1:
                            var total = random.Next(10, 60);
                            await hospitalClient.UnaryAsync(Api.ReportBeds, new ReportBedsRequest
                            {
                                RequestId = Guid.NewGuid().ToString(),
                                HospitalId = key.organization_id,
                                Reports = { new BedReport { BedProfileCode = profile, Total = total, Occupied = total / 2, Free = total - total / 2 } },
                            }, CallOptions.WithTimeout(CallDeadline));
                            break;
                        default:
                            acknowledged.Add(await polyclinic.UnaryAsync(Api.Register, Scenario.NewPatientRegistration(gateway, key.organization_id, profile, inDays: 7), CallOptions.WithTimeout(CallDeadline)));
                            Interlocked.Exchange(ref lastAcknowledged, Stopwatch.GetTimestamp());
                            acknowledgedCalls.Add((started, Interlocked.Read(ref lastAcknowledged)));
                            break;
                    }
                }
                catch (RpcException ex)
                {
                    failed.Add((ex.StatusCode, Stopwatch.GetElapsedTime(started)));
                    await Task.Delay(20);
                }
            }
        })).ToArray();

        // Load running, then PostgreSQL down for a few seconds, then back; the load goes on throughout.
        var clock = Stopwatch.StartNew();
        while (acknowledged.Count < 20)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"only {acknowledged.Count} registrations before the outage");
            await Task.Delay(20);
        }

        var beforeOutage = acknowledged.Count;
        await gateway.Postgres.StopAsync();
        var stoppedAt = Stopwatch.GetTimestamp();
        await Task.Delay(TimeSpan.FromSeconds(3));
        var startedAt = Stopwatch.GetTimestamp();
        await gateway.Postgres.StartAsync();
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, await HealthBecomesAsync(HealthCheckResponse.Types.ServingStatus.Serving));
        while (Interlocked.Read(ref lastAcknowledged) < startedAt)
        {
            Assert.True(Stopwatch.GetElapsedTime(startedAt) < TimeSpan.FromSeconds(30), "no registration acknowledged within 30 s of PostgreSQL's return");
            await Task.Delay(20);
        }

        var recoveredAfter = Stopwatch.GetElapsedTime(startedAt);
        await Task.Delay(500);
        await stop.CancelAsync();
        await Task.WhenAll(load);

        // Changes that failed: UNAVAILABLE within their deadline (DEADLINE_EXCEEDED only for a call caught in flight at the stop).
        Assert.NotEmpty(failed);
        Assert.All(failed, f => Assert.True(f.Status is StatusCode.Unavailable or StatusCode.DeadlineExceeded, $"a change ended {f.Status}"));
        Assert.All(failed, f => Assert.True(f.Elapsed < CallDeadline + TimeSpan.FromSeconds(1), $"a change ended {f.Status} after {f.Elapsed}"));
        Assert.True(failed.Count(f => f.Status == StatusCode.Unavailable) >= failed.Count / 2, $"{failed.Count(f => f.Status == StatusCode.Unavailable)} of {failed.Count} failures UNAVAILABLE");
        // A registration begun once PostgreSQL was down cannot be durable before it is back: none
        // may be acknowledged in between. (Batches committed just before the stop may be
        // acknowledged after it: they are durable, and found below.)
        var begunAndAcknowledgedWhileDown = acknowledgedCalls.Count(c => c.Started > stoppedAt && c.Acknowledged < startedAt);
        Assert.True(begunAndAcknowledgedWhileDown == 0, $"{begunAndAcknowledgedWhileDown} registrations begun and acknowledged while PostgreSQL was down");
        Assert.Empty(lookupFailures);

        // Nothing acknowledged is lost: every acknowledged registration is in its queue and found by its patient.
        var queued = new HashSet<string>();
        foreach (var (key, profile) in targets)
        {
            using var hospitalClient = gateway.ChannelFor(key);
            var queue = await hospitalClient.UnaryAsync(Api.ListQueue, new ListQueueRequest { HospitalId = key.organization_id, BedProfileCode = profile, PageSize = 1000 });
            queued.UnionWith(queue.Referrals.Select(r => r.HospitalizationCode));
        }

        var missing = acknowledged.Select(a => a.HospitalizationCode).Where(code => !queued.Contains(code)).ToList();
        Assert.True(missing.Count == 0, $"acknowledged but not in their queue: {string.Join(", ", missing)}");
        foreach (var registered in acknowledged)
        {
            var status = await gateway.Anonymous.UnaryAsync(Api.QueueStatus, new GetQueueStatusRequest { HospitalizationCode = registered.HospitalizationCode, AccessKey = registered.AccessKey });
            Assert.Equal(ReferralStatus.Registered, status.Status.Status);
        }

        output.WriteLine($"PostgreSQL stopped 3 s under load: {acknowledged.Count} registrations acknowledged ({beforeOutage} before the stop, all found afterwards), "
            + $"{failed.Count} changes failed ({string.Join(", ", failed.GroupBy(f => f.Status).Select(g => $"{g.Count()} {g.Key}"))}, slowest {failed.Max(f => f.Elapsed).TotalSeconds:F2} s of a {CallDeadline.TotalSeconds:F0} s deadline), "
            + $"0 failed lookups; first registration acknowledged {recoveredAfter.TotalSeconds:F1} s after PostgreSQL was started again, without a restart of the gateway");
    }

    private async Task<HealthCheckResponse.Types.ServingStatus> HealthBecomesAsync(HealthCheckResponse.Types.ServingStatus wanted)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var health = await gateway.Anonymous.UnaryAsync(Api.HealthCheck, new HealthCheckRequest());
            if (health.Status == wanted || waited.Elapsed > TimeSpan.FromSeconds(20))
            {
                return health.Status;
            }

            await Task.Delay(100);
        }
    }
}
