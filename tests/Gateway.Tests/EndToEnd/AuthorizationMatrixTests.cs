using BedBureau.Contract.Health.V1;
using BedBureau.Contract.V1;
using BedBureau.Gateway.Security;
using BedBureau.Wire;
using BedBureau.Wire.Client;
using Microsoft.Extensions.DependencyInjection;
using static BedBureau.Gateway.Tests.EndToEnd.GatewayFixture;

namespace BedBureau.Gateway.Tests.EndToEnd;

/// <summary>Who may call what, over the real wire: every RPC of the contract against every kind of caller.</summary>
[Collection(GatewayCollection.Name)]
public sealed class AuthorizationMatrixTests(GatewayFixture gateway)
{
    public enum Role
    {
        OwnHospital,
        OtherHospital,
        Polyclinic,
        OtherPolyclinic,
        Admin,
        Anonymous,
    }

    /// <summary>
    /// One RPC: who succeeds (everyone else authenticated: PERMISSION_DENIED, anonymous:
    /// UNAUTHENTICATED; a public RPC succeeds for all), and a call of it about the subject: a
    /// referral registered by <see cref="Role.Polyclinic"/> to <see cref="Role.OwnHospital"/>.
    /// </summary>
    private sealed record Rpc(Role[]? Allowed, Func<Subject, GrpcChannel, Task> Call)
    {
        public bool IsPublic => Allowed is null;

        public StatusCode Expected(Role role) =>
            IsPublic || Allowed!.Contains(role) ? StatusCode.OK
            : role == Role.Anonymous ? StatusCode.Unauthenticated
            : StatusCode.PermissionDenied;
    }

    private sealed record Subject(GatewayFixture Gateway, string Hospital, string Profile, RegisterReferralResponse Referral);

    private static Rpc Only(Func<Subject, GrpcChannel, Task> call, params Role[] allowed) => new(allowed, call);

    private static Rpc Public(Func<Subject, GrpcChannel, Task> call) => new(null, call);

    private static string Id() => Guid.NewGuid().ToString();

    private static async Task Streams<TResponse>(ServerStreamingCall<TResponse> call)
        where TResponse : class, Google.Protobuf.IMessage<TResponse>
    {
        using (call)
        {
            // Headers first: the server answered. A refusal is Trailers-Only (PROTOCOL-HTTP2.md):
            // the response has already ended, so reading it throws its status at once. A live
            // stream either sends its first message or stays open with nothing to read yet.
            await call.ResponseHeadersAsync().WaitAsync(TimeSpan.FromSeconds(10));
            var next = call.ResponseStream.MoveNext();
            if (await Task.WhenAny(next, Task.Delay(TimeSpan.FromSeconds(1))) == next)
            {
                Assert.True(await next, "the stream ended without a message or an error");
            }
        }
    }

    private static readonly Dictionary<string, Rpc> Rpcs = new()
    {
        ["bedbureau.v1.HospitalService/ReportBeds"] = Only((s, c) => c.UnaryAsync(Api.ReportBeds, new ReportBedsRequest
        {
            RequestId = Id(),
            HospitalId = s.Hospital,
            Reports = { new BedReport { BedProfileCode = s.Profile, Total = 30, Occupied = 20, Free = 10 } },
        }), Role.OwnHospital),
        ["bedbureau.v1.HospitalService/SetAdmissionCapacity"] = Only((s, c) => c.UnaryAsync(Api.SetAdmissionCapacity, new SetAdmissionCapacityRequest
        {
            RequestId = Id(),
            HospitalId = s.Hospital,
            BedProfileCode = s.Profile,
            Days = { new AdmissionDay { Date = Date(s.Gateway.Today.AddDays(40)), Slots = 5 } },
        }), Role.OwnHospital),
        ["bedbureau.v1.HospitalService/ListQueue"] = Only((s, c) => c.UnaryAsync(Api.ListQueue, new ListQueueRequest { HospitalId = s.Hospital, BedProfileCode = s.Profile }), Role.OwnHospital),
        ["bedbureau.v1.HospitalService/ScheduleReferral"] = Only((s, c) => c.UnaryAsync(Api.Schedule, new ScheduleReferralRequest { RequestId = Id(), HospitalizationCode = s.Referral.HospitalizationCode }), Role.OwnHospital),
        ["bedbureau.v1.HospitalService/AdmitPatient"] = Only((s, c) => c.UnaryAsync(Api.Admit, new AdmitPatientRequest { RequestId = Id(), HospitalizationCode = s.Referral.HospitalizationCode }), Role.OwnHospital),
        ["bedbureau.v1.HospitalService/RefusePatient"] = Only((s, c) => c.UnaryAsync(Api.Refuse, new RefusePatientRequest
        {
            RequestId = Id(),
            HospitalizationCode = s.Referral.HospitalizationCode,
            Reason = RefusalReason.Contraindications,
        }), Role.OwnHospital),
        ["bedbureau.v1.HospitalService/WatchReferrals"] = Only((s, c) => Streams(c.ServerStreaming(Api.WatchReferrals, new WatchReferralsRequest { HospitalId = s.Hospital })), Role.OwnHospital),
        ["bedbureau.v1.ReferralService/SearchFreeBeds"] = Only((s, c) => c.UnaryAsync(Api.Search, new SearchFreeBedsRequest { BedProfileCode = s.Profile }),
            Role.OwnHospital, Role.OtherHospital, Role.Polyclinic, Role.OtherPolyclinic, Role.Admin),
        ["bedbureau.v1.ReferralService/RegisterReferral"] = Only(async (s, c) =>
        {
            var (hospital, profile, iin) = await Scenario.TargetAsync(s.Gateway);
            await c.UnaryAsync(Api.Register, Scenario.Registration(s.Gateway, hospital, profile, iin, PlannedInDays));
        }, Role.Polyclinic, Role.OtherPolyclinic),
        ["bedbureau.v1.ReferralService/GetReferral"] = Only((s, c) => c.UnaryAsync(Api.GetReferral, new GetReferralRequest { HospitalizationCode = s.Referral.HospitalizationCode }),
            Role.OwnHospital, Role.Polyclinic, Role.Admin),
        ["bedbureau.v1.ReferralService/CancelReferral"] = Only((s, c) => c.UnaryAsync(Api.Cancel, new CancelReferralRequest
        {
            RequestId = Id(),
            HospitalizationCode = s.Referral.HospitalizationCode,
            Reason = CancellationReason.PatientRequest,
        }), Role.Polyclinic),
        ["bedbureau.v1.ReferralService/RescheduleReferral"] = Only((s, c) => c.UnaryAsync(Api.Reschedule, new RescheduleReferralRequest
        {
            RequestId = Id(),
            HospitalizationCode = s.Referral.HospitalizationCode,
            PlannedDate = Date(s.Gateway.Today.AddDays(6)),
            Reason = "patient asked",
        }), Role.Polyclinic),
        ["bedbureau.v1.ReferralService/ListReferrals"] = Only((s, c) => c.UnaryAsync(Api.ListReferrals, new ListReferralsRequest { PageSize = 5 }), Role.Polyclinic, Role.OtherPolyclinic),
        ["bedbureau.v1.PatientService/GetQueueStatus"] = Public((s, c) => c.UnaryAsync(Api.QueueStatus, new GetQueueStatusRequest
        {
            HospitalizationCode = s.Referral.HospitalizationCode,
            AccessKey = s.Referral.AccessKey,
        })),
        ["bedbureau.v1.PatientService/WatchQueueStatus"] = Public((s, c) => Streams(c.ServerStreaming(Api.WatchQueueStatus, new WatchQueueStatusRequest
        {
            HospitalizationCode = s.Referral.HospitalizationCode,
            AccessKey = s.Referral.AccessKey,
        }))),
        ["bedbureau.v1.PatientService/CancelReferral"] = Public((s, c) => c.UnaryAsync(Api.PatientCancel, new PatientServiceCancelReferralRequest
        {
            RequestId = Id(),
            HospitalizationCode = s.Referral.HospitalizationCode,
            AccessKey = s.Referral.AccessKey,
            Reason = CancellationReason.PatientRequest,
        })),
        ["bedbureau.v1.DirectoryService/ListRegions"] = Public((s, c) => c.UnaryAsync(Api.ListRegions, new ListRegionsRequest())),
        ["bedbureau.v1.DirectoryService/ListBedProfiles"] = Public((s, c) => c.UnaryAsync(Api.ListBedProfiles, new ListBedProfilesRequest())),
        ["bedbureau.v1.DirectoryService/ListHospitals"] = Public((s, c) => c.UnaryAsync(Api.ListHospitals, new ListHospitalsRequest { RegionCode = "75" })),
        ["bedbureau.v1.DirectoryService/GetHospital"] = Public((s, c) => c.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = s.Hospital })),
        ["bedbureau.v1.AuditService/ListAuditRecords"] = Only((s, c) => c.UnaryAsync(Api.ListAudit, new ListAuditRecordsRequest { PageSize = 5 }), Role.Admin),
        ["grpc.health.v1.Health/Check"] = Public((s, c) => c.UnaryAsync(Api.HealthCheck, new HealthCheckRequest())),
        ["grpc.health.v1.Health/Watch"] = Public((s, c) => Streams(c.ServerStreaming(Api.HealthWatch, new HealthCheckRequest()))),
    };

    public static TheoryData<string, Role> Matrix()
    {
        var data = new TheoryData<string, Role>();
        foreach (var rpc in Rpcs.Keys)
        {
            foreach (var role in Enum.GetValues<Role>())
            {
                data.Add(rpc, role);
            }
        }

        return data;
    }

    public static TheoryData<string, string> BadKeys()
    {
        var data = new TheoryData<string, string>();
        foreach (var (name, rpc) in Rpcs.Where(r => !r.Value.IsPublic))
        {
            foreach (var key in new[] { "missing", "malformed", "unknown", "revoked" })
            {
                data.Add(name, key);
            }
        }

        return data;
    }

    /// <summary>The day the matrix's referrals are planned for, with room for all of them at the own hospital.</summary>
    internal const int PlannedInDays = 20;

    private static readonly SemaphoreSlim CapacityGate = new(1);
    private static GatewayFixture? _capacityFor;

    private async Task EnsureCapacityAsync(string hospital, string profile)
    {
        await CapacityGate.WaitAsync();
        try
        {
            if (_capacityFor != gateway)
            {
                using var own = gateway.ChannelFor(gateway.Hospital(0));
                await own.UnaryAsync(Api.SetAdmissionCapacity, new SetAdmissionCapacityRequest
                {
                    RequestId = Id(),
                    HospitalId = hospital,
                    BedProfileCode = profile,
                    Days = { new AdmissionDay { Date = Date(gateway.Today.AddDays(PlannedInDays)), Slots = 5000 } },
                });
                _capacityFor = gateway;
            }
        }
        finally
        {
            CapacityGate.Release();
        }
    }

    /// <summary>A fresh referral per call, scheduled when the RPC needs it so, so each success is a real one.</summary>
    private async Task<Subject> SubjectAsync(string rpc)
    {
        var (hospital, profile, iin) = await Scenario.TargetAsync(gateway);
        await EnsureCapacityAsync(hospital, profile);
        using var polyclinic = gateway.ChannelFor(gateway.Polyclinic(0));
        var referral = await polyclinic.UnaryAsync(Api.Register, Scenario.Registration(gateway, hospital, profile, iin, PlannedInDays));
        if (rpc.EndsWith("/AdmitPatient", StringComparison.Ordinal))
        {
            using var own = gateway.ChannelFor(gateway.Hospital(0));
            await own.UnaryAsync(Api.Schedule, new ScheduleReferralRequest { RequestId = Id(), HospitalizationCode = referral.HospitalizationCode });
        }

        return new Subject(gateway, hospital, profile, referral);
    }

    private GrpcChannel ChannelOf(Role role) => role switch
    {
        Role.OwnHospital => gateway.ChannelFor(gateway.Hospital(0)),
        Role.OtherHospital => gateway.ChannelFor(gateway.Hospital(1)),
        Role.Polyclinic => gateway.ChannelFor(gateway.Polyclinic(0)),
        Role.OtherPolyclinic => gateway.ChannelFor(gateway.Polyclinic(1)),
        Role.Admin => gateway.ChannelFor(gateway.Admin),
        _ => GrpcChannel.ForAddress(gateway.GrpcAddress),
    };

    private static async Task<StatusCode> OutcomeAsync(Func<Task> call)
    {
        try
        {
            await call();
            return StatusCode.OK;
        }
        catch (RpcException ex)
        {
            return ex.StatusCode;
        }
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public async Task Each_rpc_answers_each_caller_as_its_rights_say(string rpc, Role role)
    {
        var subject = await SubjectAsync(rpc);
        using var channel = ChannelOf(role);

        var outcome = await OutcomeAsync(() => Rpcs[rpc].Call(subject, channel));

        Assert.Equal(Rpcs[rpc].Expected(role), outcome);
    }

    [Theory]
    [MemberData(nameof(BadKeys))]
    public async Task A_missing_malformed_unknown_or_revoked_key_is_unauthenticated(string rpc, string key)
    {
        var subject = await SubjectAsync(rpc);
        var header = key switch
        {
            "missing" => null,
            "malformed" => "Bearer not-a-key",
            "unknown" => $"Bearer {ApiKey.Generate()}",
            _ => $"Bearer {await RevokedKeyAsync()}",
        };
        using var channel = GrpcChannel.ForAddress(gateway.GrpcAddress, new GrpcChannelOptions
        {
            DefaultHeaders = header is null ? [] : new Metadata { { "authorization", header } },
        });

        Assert.Equal(StatusCode.Unauthenticated, await OutcomeAsync(() => Rpcs[rpc].Call(subject, channel)));
    }

    /// <summary>A real key of the referring polyclinic, issued and then revoked.</summary>
    private async Task<ApiKey> RevokedKeyAsync()
    {
        var host = gateway.App.Services.GetRequiredService<BureauHost>();
        var key = await ApiKeys.IssueAsync(host.Storage.Organizations, gateway.Polyclinic(0).organization_id, gateway.Time, default);
        await host.Storage.Organizations.RevokeKeyAsync(key.KeyId, gateway.Time.GetUtcNow(), default);
        return key;
    }

    [Fact]
    public void The_matrix_covers_every_rpc_the_gateway_serves()
    {
        var served = GatewayApp.ContractServices.Append(HealthReflection.Descriptor.Services[0])
            .SelectMany(s => s.Methods.Select(m => $"{s.FullName}/{m.Name}"));

        Assert.Equal(served.Order(StringComparer.Ordinal), Rpcs.Keys.Order(StringComparer.Ordinal));
    }
}
