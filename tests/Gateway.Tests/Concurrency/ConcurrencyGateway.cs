using BedBureau.BedGrain.Domain;
using BedBureau.Contract.V1;
using BedBureau.Gateway.Tests.EndToEnd;
using BedBureau.Gateway.Tests.Storage;
using BedBureau.Wire.Client;

namespace BedBureau.Gateway.Tests.Concurrency;

/// <summary>
/// A gateway of its own for the races: they restart it, and they load it hard enough that
/// sharing it with other tests would make either side's timing meaningless. The races run on
/// each store, since each commits (and can get a race wrong) in its own way.
/// </summary>
public abstract class ConcurrencyGateway : GatewayFixture
{
    protected override async Task<IEnumerable<string>> SettingsAsync() =>
        ["--Sample:Hospitals=8", "--Sample:Referrals=40", "--Sample:HospitalKeys=5", .. await StorageSettingsAsync()];

    /// <summary>Settings that choose the store; none: the embedded SQLite.</summary>
    protected virtual Task<IEnumerable<string>> StorageSettingsAsync() => Task.FromResult<IEnumerable<string>>([]);

    /// <summary>The grain's admission calendar from today, read in-process (the contract has no read of it).</summary>
    public Task<IReadOnlyList<BedBureau.BedGrain.Domain.AdmissionDay>> CalendarAsync(string hospital, string profile) =>
        Service<BureauHost>().Bureau.CallAsync(new BedGrainKey(hospital, profile), Today, static (grain, today) => Task.FromResult(grain.CalendarFrom(today)));

    /// <summary>The grain's own bookkeeping check (reservations against active referrals, queue size).</summary>
    public Task<IReadOnlyList<string>> InvariantProblemsAsync(string hospital, string profile) =>
        Service<BureauHost>().Bureau.CallAsync(new BedGrainKey(hospital, profile), 0, static (grain, _) => grain.CheckInvariantsAsync());

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

public sealed class SqliteConcurrencyGateway : ConcurrencyGateway;

/// <summary>The races on a PostgreSQL database of their own, the same one after each restart.</summary>
public sealed class PostgresConcurrencyGateway : ConcurrencyGateway
{
    private string? _database;

    protected override async Task<IEnumerable<string>> StorageSettingsAsync()
    {
        _database ??= await TestDatabases.CreatePostgresDatabaseAsync();
        return [$"--ConnectionStrings:Postgres={_database}", "--Security:PersonalDataSecret=concurrency-test-secret"];
    }
}

[CollectionDefinition(Name)]
public sealed class SqliteConcurrencyCollection : ICollectionFixture<SqliteConcurrencyGateway>
{
    public const string Name = "concurrency on SQLite";
}

[CollectionDefinition(Name)]
public sealed class PostgresConcurrencyCollection : ICollectionFixture<PostgresConcurrencyGateway>
{
    public const string Name = "concurrency on PostgreSQL";
}
