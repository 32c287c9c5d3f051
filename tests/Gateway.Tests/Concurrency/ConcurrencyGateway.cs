using BedBureau.BedGrain.Domain;
using BedBureau.Contract.V1;
using BedBureau.Gateway.Tests.EndToEnd;
using BedBureau.Wire.Client;

namespace BedBureau.Gateway.Tests.Concurrency;

/// <summary>
/// A gateway of its own for the races: they restart it, and they load it hard enough that
/// sharing it with other tests would make either side's timing meaningless.
/// </summary>
public sealed class ConcurrencyGateway : GatewayFixture
{
    protected override Task<IEnumerable<string>> SettingsAsync() =>
        Task.FromResult<IEnumerable<string>>(["--Sample:Hospitals=8", "--Sample:Referrals=40", "--Sample:HospitalKeys=5"]);

    /// <summary>The grain's admission calendar from today, read in-process (the contract has no read of it).</summary>
    public Task<IReadOnlyList<BedBureau.BedGrain.Domain.AdmissionDay>> CalendarAsync(string hospital, string profile) =>
        Service<BureauHost>().Bureau.CallAsync(new BedGrainKey(hospital, profile), Today, static (grain, today) => Task.FromResult(grain.CalendarFrom(today)));

    /// <summary>The grain's own bookkeeping check (reservations against active referrals, queue size).</summary>
    public Task<IReadOnlyList<string>> InvariantProblemsAsync(string hospital, string profile) =>
        Service<BureauHost>().Bureau.CallAsync(new BedGrainKey(hospital, profile), 0, static (grain, _) => Task.FromResult(grain.CheckInvariants()));

    /// <summary>Every audit record of an action, oldest first, through the admin API.</summary>
    public async Task<List<Contract.V1.AuditRecord>> AuditAsync(string action)
    {
        using var admin = ChannelFor(Admin);
        var records = new List<Contract.V1.AuditRecord>();
        var token = "";
        do
        {
            var page = await admin.UnaryAsync(Api.ListAudit, new ListAuditRecordsRequest { Action = action, PageSize = 1000, PageToken = token });
            records.AddRange(page.Records);
            token = page.NextPageToken;
        }
        while (token.Length > 0);

        return records;
    }
}

[CollectionDefinition(Name)]
public sealed class ConcurrencyCollection : ICollectionFixture<ConcurrencyGateway>
{
    public const string Name = "concurrency";
}
