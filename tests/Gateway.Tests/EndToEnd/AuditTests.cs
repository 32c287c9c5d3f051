using BedBureau.Contract.V1;
using BedBureau.Wire;
using Google.Protobuf.WellKnownTypes;

namespace BedBureau.Gateway.Tests.EndToEnd;

/// <summary>The audit trail over the real wire: what mutations leave behind, and who may read it.</summary>
[Collection(GatewayCollection.Name)]
public sealed class AuditTests(GatewayFixture gateway)
{
    private async Task<List<AuditRecord>> TrailAsync(ListAuditRecordsRequest request)
    {
        using var admin = gateway.ChannelFor(gateway.Admin);
        return (await admin.UnaryAsync(Api.ListAudit, request)).Records.ToList();
    }

    [Fact]
    public async Task Successes_and_refusals_are_recorded_with_actor_target_request_id_and_outcome()
    {
        var (hospital, profile, iin) = await Scenario.TargetAsync(gateway);
        using var polyclinic = gateway.ChannelFor(gateway.Polyclinic(0));
        using var otherPolyclinic = gateway.ChannelFor(gateway.Polyclinic(1));
        var registration = Scenario.Registration(gateway, hospital, profile, iin);
        var registered = await polyclinic.UnaryAsync(Api.Register, registration);
        var cancel = new CancelReferralRequest { RequestId = Guid.NewGuid().ToString(), HospitalizationCode = registered.HospitalizationCode, Reason = CancellationReason.PatientRequest };
        var denied = await Assert.ThrowsAsync<RpcException>(() => otherPolyclinic.UnaryAsync(Api.Cancel, cancel));
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);

        var trail = await TrailAsync(new ListAuditRecordsRequest { Target = registered.HospitalizationCode });

        Assert.Collection(trail,
            r =>
            {
                Assert.Equal(("bedbureau.v1.ReferralService/RegisterReferral", "OK", "Registered by the referring polyclinic"), (r.Action, r.Outcome, r.Reason));
                Assert.Equal((gateway.Polyclinic(0).organization_id, registration.RequestId), (r.ActorOrganizationId, r.RequestId));
                Assert.Equal(gateway.Time.GetUtcNow(), r.OccurredAt.ToDateTimeOffset());
            },
            r =>
            {
                Assert.Equal(("bedbureau.v1.ReferralService/CancelReferral", "PERMISSION_DENIED"), (r.Action, r.Outcome));
                Assert.Equal((gateway.Polyclinic(1).organization_id, cancel.RequestId), (r.ActorOrganizationId, r.RequestId));
                Assert.NotEmpty(r.Reason);
            });
    }

    [Fact]
    public async Task Unauthenticated_attempts_are_recorded_without_an_actor()
    {
        var code = (await Scenario.RegisterAsync(gateway)).HospitalizationCode;
        var request = new AdmitPatientRequest { RequestId = Guid.NewGuid().ToString(), HospitalizationCode = code };

        await Assert.ThrowsAsync<RpcException>(() => gateway.Anonymous.UnaryAsync(Api.Admit, request));

        var record = Assert.Single(await TrailAsync(new ListAuditRecordsRequest { Target = code, Action = "bedbureau.v1.HospitalService/AdmitPatient" }));
        Assert.Equal(("", "UNAUTHENTICATED", request.RequestId), (record.ActorOrganizationId, record.Outcome, record.RequestId));
    }

    [Fact]
    public async Task No_record_holds_an_iin_even_when_a_caller_sends_one_as_request_id()
    {
        var (hospital, profile, iin) = await Scenario.TargetAsync(gateway);
        using var polyclinic = gateway.ChannelFor(gateway.Polyclinic());
        var registration = Scenario.Registration(gateway, hospital, profile, iin);
        registration.RequestId = $"visit-{iin}";
        var registered = await polyclinic.UnaryAsync(Api.Register, registration);

        var record = Assert.Single(await TrailAsync(new ListAuditRecordsRequest { Target = registered.HospitalizationCode }));

        Assert.DoesNotContain(iin, record.ToString(), StringComparison.Ordinal);
        Assert.Equal("visit-############", record.RequestId);
    }

    [Fact]
    public async Task Pages_and_filters_by_organisation_action_and_time()
    {
        using var hospitalClient = gateway.ChannelFor(gateway.Hospital(2));
        var actor = gateway.Hospital(2).organization_id;
        var profile = (await gateway.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = actor })).Hospital.BedProfileCodes[0];
        var requestIds = Enumerable.Range(0, 5).Select(_ => Guid.NewGuid().ToString()).ToList();
        foreach (var requestId in requestIds)
        {
            await hospitalClient.UnaryAsync(Api.ReportBeds, new ReportBedsRequest
            {
                RequestId = requestId,
                Reports = { new BedReport { BedProfileCode = profile, Total = 20, Occupied = 10 + requestIds.IndexOf(requestId), Free = 10 - requestIds.IndexOf(requestId) } },
            });
        }

        var now = gateway.Time.GetUtcNow();
        var filter = new ListAuditRecordsRequest
        {
            ActorOrganizationId = actor,
            Action = "bedbureau.v1.HospitalService/ReportBeds",
            Target = $"{actor}/{profile}",
            From = Timestamp.FromDateTimeOffset(now.AddMinutes(-1)),
            To = Timestamp.FromDateTimeOffset(now.AddMinutes(1)),
            PageSize = 2,
        };
        var seen = new List<AuditRecord>();
        do
        {
            using var admin = gateway.ChannelFor(gateway.Admin);
            var page = await admin.UnaryAsync(Api.ListAudit, filter);
            Assert.True(page.Records.Count <= 2);
            seen.AddRange(page.Records);
            filter.PageToken = page.NextPageToken;
        }
        while (filter.PageToken.Length > 0);

        // One record per profile reported, written with the change, its request id the profile's
        // ("request_id/profile", as ReportBeds retries profile by profile); the sample's census is there too.
        Assert.Subset(seen.Select(r => r.RequestId).ToHashSet(), requestIds.Select(id => $"{id}/{profile}").ToHashSet());
        Assert.All(seen, r => Assert.Equal((actor, "bedbureau.v1.HospitalService/ReportBeds", $"{actor}/{profile}", "OK"), (r.ActorOrganizationId, r.Action, r.Target, r.Outcome)));
        Assert.Equal(seen.Select(r => r.Id).Order(), seen.Select(r => r.Id));
        Assert.Equal(seen.Count, seen.Select(r => r.Id).Distinct().Count());

        filter.PageToken = "";
        filter.To = Timestamp.FromDateTimeOffset(now.AddMinutes(-1));
        filter.From = Timestamp.FromDateTimeOffset(now.AddMinutes(-2));
        Assert.Empty(await TrailAsync(filter));
    }

    [Fact]
    public async Task Only_ministry_admins_read_the_trail()
    {
        foreach (var key in new[] { gateway.Hospital(), gateway.Polyclinic() })
        {
            using var channel = gateway.ChannelFor(key);
            var error = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(Api.ListAudit, new ListAuditRecordsRequest()));
            Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
        }

        var anonymous = await Assert.ThrowsAsync<RpcException>(() => gateway.Anonymous.UnaryAsync(Api.ListAudit, new ListAuditRecordsRequest()));
        Assert.Equal(StatusCode.Unauthenticated, anonymous.StatusCode);
        using var admin = gateway.ChannelFor(gateway.Admin);
        var badToken = await Assert.ThrowsAsync<RpcException>(() => admin.UnaryAsync(Api.ListAudit, new ListAuditRecordsRequest { PageToken = "not-a-token" }));
        Assert.Equal(StatusCode.InvalidArgument, badToken.StatusCode);
        Assert.Contains("page_token", badToken.Status.Detail, StringComparison.Ordinal);
    }
}
