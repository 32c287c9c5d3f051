using System.Diagnostics;
using System.Net;
using BedBureau.Contract.Health.V1;
using BedBureau.Contract.V1;
using BedBureau.Gateway.ReferenceData;
using BedBureau.Gateway.Sample;
using BedBureau.Gateway.Tests.EndToEnd;
using BedBureau.Wire;
using BedBureau.Wire.Client;
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
public sealed class PostgresOutageTests(OwnPostgresGatewayFixture gateway) : IClassFixture<OwnPostgresGatewayFixture>
{
    private static readonly TimeSpan CallDeadline = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Changes_fail_unavailable_reads_go_on_and_the_gateway_recovers_without_a_restart()
    {
        var hospitalId = gateway.Hospital().organization_id;
        var info = await gateway.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = hospitalId });
        var profile = info.Hospital.BedProfileCodes[0];
        using var polyclinic = gateway.ChannelFor(gateway.Polyclinic());
        using var hospital = gateway.ChannelFor(gateway.Hospital());
        var child = ReferenceCatalog.BedProfiles.Single(p => p.Code == profile).IsChild;
        RegisterReferralRequest Registration() => new()
        {
            RequestId = Guid.NewGuid().ToString(),
            PatientIin = NationalDataset.Iin(new Random(Guid.NewGuid().GetHashCode()), gateway.Today.AddDays(10), child),
            Icd10Code = "K80.1",
            BedProfileCode = profile,
            HospitalId = hospitalId,
            PlannedDate = Date(gateway.Today.AddDays(3)),
            Purpose = TreatmentPurpose.Surgical,
            FinanceSource = FinanceSource.GuaranteedVolume,
            PatientRegionCode = "75",
        };
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
