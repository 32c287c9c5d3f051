using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Storage;
using BedBureau.Gateway.Storage;
using Microsoft.Data.Sqlite;

namespace BedBureau.Gateway.Tests.Storage;

public sealed class SqliteDatabaseTests
{
    [Fact]
    public async Task Every_connection_syncs_each_commit_and_checkpoints_the_wal_only_at_its_bound()
    {
        var database = new SqliteDatabase(TestDatabases.NewSqlitePath());
        await using var connection = await database.OpenAsync(default);

        Assert.Equal("wal", await PragmaAsync(connection, "journal_mode"));
        Assert.Equal("2", await PragmaAsync(connection, "synchronous")); // FULL: a commit is on disk when acknowledged
        Assert.Equal("1", await PragmaAsync(connection, "foreign_keys"));
        Assert.Equal(SqliteDatabase.WalCheckpointPages.ToString(System.Globalization.CultureInfo.InvariantCulture), await PragmaAsync(connection, "wal_autocheckpoint"));
    }

    [Fact]
    public async Task A_store_made_before_its_requests_lost_their_unique_index_keeps_them_all()
    {
        var at = new DateTimeOffset(2026, 11, 2, 9, 0, 0, TimeSpan.FromHours(5));
        var key = new BedGrainKey("01W9", "101");
        var database = new SqliteDatabase(TestDatabases.NewSqlitePath());
        await database.MigrateAsync(throughVersion: 11, default); // as a service before migration 12 left it

        var registration = new IdempotencyRecord("PC-75-001/r1", IdempotencyRecord.Registration, "75.01W9.101.1", "a2V5", at);
        var report = new IdempotencyRecord("01W9/r2", "ReportBeds", "", null, at.AddMinutes(1));
        await using (var before = NewStorage(database))
        {
            await before.CommitAsync(key, 0, new BedGrainChange(1, null, [], [], [], registration, 2, 1, "PC-75-001"), default);
            await before.CommitAsync(key, 1, new BedGrainChange(2, null, [], [], [], report, 2, 1, "01W9"), default);
        }

        await database.MigrateAsync(default);

        await using var after = NewStorage(database);
        Assert.Equal(registration, Assert.Single((await after.LoadReferralsAsync(key, 2, default)).Registrations));
        Assert.Equal(report, Assert.Single((await after.LoadAsync(key, at.AddDays(-1), default))!.Idempotency));
        await using var check = await database.OpenAsync(default);
        Assert.Equal(
            ["idempotency_records_registrations", "idempotency_records_requests"],
            await QueryAsync(check, "SELECT name FROM pragma_index_list('idempotency_records') ORDER BY name"));
    }

    private static SqlBedGrainStorage NewStorage(SqliteDatabase database) =>
        new(async ct => await database.OpenAsync(ct), SqlDialect.Sqlite, new GroupCommitOptions { Writers = 1 }, TimeProvider.System);

    private static async Task<List<string>> QueryAsync(SqliteConnection connection, string sql)
    {
        await using var command = new SqliteCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.GetString(0));
        }

        return rows;
    }

    private static async Task<string> PragmaAsync(SqliteConnection connection, string name) => Assert.Single(await QueryAsync(connection, $"PRAGMA {name}"));
}
