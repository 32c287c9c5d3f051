using BedBureau.Gateway.Storage;

namespace BedBureau.Gateway.Tests.Storage;

/// <summary>What the audit record of a caller's grain change says it did.</summary>
public sealed class AuditReasonTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 4, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_calendar_change_and_a_referral_change_are_recorded_with_what_they_did()
    {
        var key = new BedBureau.BedGrain.Domain.BedGrainKey("01W9", "101");
        var calendar = new BedBureau.BedGrain.Storage.BedGrainChange(2, null, [new(new DateOnly(2026, 11, 25), 0), new(new DateOnly(2026, 11, 24), 5)], [], [],
            new BedBureau.BedGrain.Domain.IdempotencyRecord("01W9/c1", "SetAdmissionCapacity", "", null, T0), 0, 0, "01W9");
        var cancel = new BedBureau.BedGrain.Storage.BedGrainChange(3, null, [], [], [new BedBureau.BedGrain.Domain.ReferralEvent(
                7, "75.01W9.101.1", "CANCELLED", BedBureau.BedGrain.Domain.ReferralStatus.Cancelled, "patient's request", "PC-1", T0, new DateOnly(2026, 11, 24))],
            new BedBureau.BedGrain.Domain.IdempotencyRecord("PC-1/x1", "CancelReferral", "75.01W9.101.1", null, T0), 0, 0, "PC-1");

        Assert.Equal("slots set for 2 date(s): 2026-11-24 5, 2026-11-25 0", Assert.Single(AuditLog.OfGrainChange(key, calendar)).Reason);
        Assert.Equal("patient's request", Assert.Single(AuditLog.OfGrainChange(key, cancel)).Reason);
    }
}

/// <summary>The audit log on both databases: appends are durable, filters and keyset paging work, IINs are masked.</summary>
public abstract class AuditLogTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 4, 0, 0, TimeSpan.Zero);

    protected abstract Task<(AuditLog Log, Func<Task<AuditLog>> Reopen)> CreateAsync();

    /// <summary>The grain storage on the same database as the log <see cref="CreateAsync"/> made last.</summary>
    protected abstract SqlBedGrainStorage GrainStorage();

    [Fact]
    public async Task A_grain_commit_writes_its_audit_record_in_its_own_transaction_and_a_lost_race_writes_none()
    {
        var (log, _) = await CreateAsync();
        await using var grains = GrainStorage();
        var key = new BedBureau.BedGrain.Domain.BedGrainKey("01W9", "101");
        BedBureau.BedGrain.Storage.BedGrainChange Change(long version, string requestId) => new(
            version, new BedBureau.BedGrain.Domain.BedCensus(10, 5, 5, 0, 0, T0), [], [], [],
            new BedBureau.BedGrain.Domain.IdempotencyRecord($"01W9/{requestId}", "ReportBeds", "", null, T0), 0, 0, "01W9");

        await grains.CommitAsync(key, 0, Change(1, "first"), default);
        await Assert.ThrowsAsync<BedBureau.BedGrain.Runtime.StorageConflictException>(() => grains.CommitAsync(key, 0, Change(1, "lost-the-race"), default));

        var record = Assert.Single(await log.ListAsync(new AuditQuery(null, null, null, null, null, 0, 10), default));
        Assert.Equal(("01W9", "bedbureau.v1.HospitalService/ReportBeds", "01W9/101", "first", "OK", T0),
            (record.ActorOrganizationId, record.Action, record.Target, record.RequestId, record.Outcome, record.OccurredAt));
        Assert.Equal("census reported at 2026-11-23T04:00:00+00:00: total 10, occupied 5, free 5 (men 0, women 0)", record.Reason);
        await log.DisposeAsync();
    }

    [Fact]
    public async Task Appended_records_are_read_back_after_reopening_filtered_and_paged()
    {
        var (log, reopen) = await CreateAsync();
        await Task.WhenAll(Enumerable.Range(0, 30).Select(i => log.AppendAsync(new AuditRecord(0, i % 2 == 0 ? "H1" : "P1",
            i % 3 == 0 ? "a/Admit" : "a/Cancel", $"code-{i}", T0.AddMinutes(i), $"req-{i}", "OK", ""))));
        await log.DisposeAsync();
        var reopened = await reopen();

        var all = await reopened.ListAsync(new AuditQuery(null, null, null, null, null, 0, 100), default);
        Assert.Equal(30, all.Count);
        Assert.Equal(all.Select(r => r.Id).Order(), all.Select(r => r.Id));
        var byActorAndAction = await reopened.ListAsync(new AuditQuery("H1", "a/Admit", null, null, null, 0, 100), default);
        Assert.Equal([0, 6, 12, 18, 24], byActorAndAction.Select(r => int.Parse(r.Target[5..], System.Globalization.CultureInfo.InvariantCulture)).Order());
        var window = await reopened.ListAsync(new AuditQuery(null, null, null, T0.AddMinutes(10), T0.AddMinutes(20), 0, 100), default);
        Assert.Equal(10, window.Count);
        Assert.All(window, r => Assert.InRange(r.OccurredAt, T0.AddMinutes(10), T0.AddMinutes(19)));
        var firstPage = await reopened.ListAsync(new AuditQuery(null, null, null, null, null, 0, 7), default);
        var secondPage = await reopened.ListAsync(new AuditQuery(null, null, null, null, null, firstPage[^1].Id, 7), default);
        Assert.Equal(all.Skip(7).Take(7).Select(r => r.Id), secondPage.Select(r => r.Id));
        await reopened.DisposeAsync();
    }

    [Fact]
    public async Task Twelve_digit_runs_never_reach_the_trail()
    {
        var (log, _) = await CreateAsync();
        await log.AppendAsync(new AuditRecord(0, "P1", "a/Register", "880101300123", T0, "x-880101300123-y", "INVALID_ARGUMENT", "BAD 880101300123"));

        var record = Assert.Single(await log.ListAsync(new AuditQuery(null, null, null, null, null, 0, 10), default));
        Assert.DoesNotContain("880101300123", $"{record.Target}{record.RequestId}{record.Reason}", StringComparison.Ordinal);
        Assert.Equal("x-############-y", record.RequestId);
        await log.DisposeAsync();
    }

    [Fact]
    public async Task A_uuid_request_id_is_kept_whole_even_when_its_last_group_is_twelve_digits()
    {
        var (log, _) = await CreateAsync();
        await log.AppendAsync(new AuditRecord(0, "P1", "a/Register", "t", T0, "1a56a524-a01c-4f7f-bf04-242880040360/127", "OK", "880101300123 in 1a56a524-a01c-4f7f-bf04-242880040360"));

        var record = Assert.Single(await log.ListAsync(new AuditQuery(null, null, null, null, null, 0, 10), default));
        Assert.Equal("1a56a524-a01c-4f7f-bf04-242880040360/127", record.RequestId);
        Assert.Equal("############ in 1a56a524-a01c-4f7f-bf04-242880040360", record.Reason);
        await log.DisposeAsync();
    }
}

public sealed class SqliteAuditLogTests : AuditLogTests
{
    private SqliteDatabase? _database;

    protected override SqlBedGrainStorage GrainStorage() =>
        new(async ct => await _database!.OpenAsync(ct), SqlDialect.Sqlite, new GroupCommitOptions { Writers = 1 }, TimeProvider.System);

    protected override async Task<(AuditLog, Func<Task<AuditLog>>)> CreateAsync()
    {
        var database = _database = new SqliteDatabase(TestDatabases.NewSqlitePath());
        await database.MigrateAsync(default);
        AuditLog Open() => new(async ct => await database.OpenAsync(ct), SqlDialect.Sqlite, writers: 1);
        return (Open(), () => Task.FromResult(Open()));
    }
}

public sealed class PostgresAuditLogTests : AuditLogTests
{
    private PostgresDatabase? _database;

    protected override SqlBedGrainStorage GrainStorage() =>
        new(async ct => await _database!.OpenAsync(ct), SqlDialect.Postgres, new GroupCommitOptions(), TimeProvider.System);

    protected override async Task<(AuditLog, Func<Task<AuditLog>>)> CreateAsync()
    {
        var connectionString = await TestDatabases.CreatePostgresDatabaseAsync();
        var database = _database = PostgresDatabase.Create(connectionString);
        await database.MigrateAsync(default);
        AuditLog Open() => new(async ct => await database.OpenAsync(ct), SqlDialect.Postgres, writers: 2);
        return (Open(), () => Task.FromResult(Open()));
    }
}
