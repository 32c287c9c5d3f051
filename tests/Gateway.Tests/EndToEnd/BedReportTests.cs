using BedBureau.Contract.V1;
using BedBureau.Wire;
using Google.Protobuf.WellKnownTypes;

namespace BedBureau.Gateway.Tests.EndToEnd;

/// <summary>A hospital's report of several bed profiles in one call: all of it lands, or none.</summary>
[Collection(GatewayCollection.Name)]
public sealed class BedReportTests(GatewayFixture gateway)
{
    [Fact]
    public async Task A_report_with_one_stale_profile_is_refused_and_changes_no_profile()
    {
        var (hospital, first, second, t) = await TwoProfilesAsync();
        using var own = gateway.ChannelFor(gateway.Hospital(1));
        await own.UnaryAsync(Api.ReportBeds, Request(hospital, Report(first, free: 1, t.AddSeconds(1)), Report(second, free: 1, t.AddSeconds(1))));
        await own.UnaryAsync(Api.ReportBeds, Request(hospital, Report(first, free: 3, t.AddSeconds(3))));

        // Newer than the second profile's stored report, older than the first's.
        var refused = await Assert.ThrowsAsync<RpcException>(() => own.UnaryAsync(Api.ReportBeds,
            Request(hospital, Report(first, free: 2, t.AddSeconds(2)), Report(second, free: 2, t.AddSeconds(2)))));

        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.StartsWith("[STALE_REPORT] reports[0].reported_at:", refused.Status.Detail, StringComparison.Ordinal);
        Assert.Equal([(first, 3), (second, 1)], await FreeBedsAsync(hospital, first, second));
    }

    [Fact]
    public async Task A_repeated_report_answers_its_first_result_although_a_newer_one_was_stored_since()
    {
        var (hospital, first, second, t) = await TwoProfilesAsync();
        using var own = gateway.ChannelFor(gateway.Hospital(1));
        var report = Request(hospital, Report(first, free: 4, t.AddSeconds(4)), Report(second, free: 4, t.AddSeconds(4)));
        await own.UnaryAsync(Api.ReportBeds, report);
        await own.UnaryAsync(Api.ReportBeds, Request(hospital, Report(first, free: 5, t.AddSeconds(5))));

        var again = await own.UnaryAsync(Api.ReportBeds, report);

        Assert.Equal([4, 4], again.Census.Select(c => c.Free));
        Assert.Equal([(first, 5), (second, 4)], await FreeBedsAsync(hospital, first, second));
    }

    /// <summary>A hospital's first two profiles, and a time no earlier than their stored reports (times below are seconds after it).</summary>
    private async Task<(string Hospital, string First, string Second, DateTimeOffset Since)> TwoProfilesAsync()
    {
        var hospital = gateway.Hospital(1).organization_id;
        var shown = await gateway.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = hospital });
        var profiles = shown.Hospital.BedProfileCodes;
        Assert.True(profiles.Count >= 2, $"the sample's hospital {hospital} has {profiles.Count} profile(s); the test needs two");
        var since = shown.Census.Where(c => c.ReportedAt is not null).Select(c => c.ReportedAt.ToDateTimeOffset()).Append(gateway.Time.GetUtcNow()).Max();
        return (hospital, profiles[0], profiles[1], since);
    }

    private async Task<(string Profile, int Free)[]> FreeBedsAsync(string hospital, params string[] profiles)
    {
        var census = (await gateway.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = hospital })).Census;
        return profiles.Select(p => (p, census.Single(c => c.BedProfileCode == p).Free)).ToArray();
    }

    private static ReportBedsRequest Request(string hospital, params BedReport[] reports) =>
        new() { RequestId = Guid.NewGuid().ToString(), HospitalId = hospital, Reports = { reports } };

    private static BedReport Report(string profile, int free, DateTimeOffset at) =>
        new() { BedProfileCode = profile, Total = 20, Occupied = 20 - free, Free = free, ReportedAt = Timestamp.FromDateTimeOffset(at) };
}
