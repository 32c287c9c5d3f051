using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Storage;
using BedBureau.BedGrain.Tests;
using BedBureau.Gateway.Storage;
using Npgsql;

namespace BedBureau.Gateway.Tests.Storage;

public sealed class SqliteBedGrainStorageTests : BedGrainStorageContractTests, IAsyncDisposable
{
    private readonly List<SqlBedGrainStorage> _storages = [];

    protected override async Task<IBedGrainStorage> CreateStorageAsync()
    {
        var database = new SqliteDatabase(TestDatabases.NewSqlitePath());
        await database.MigrateAsync(default);
        var storage = new SqlBedGrainStorage(async ct => await database.OpenAsync(ct), SqlDialect.Sqlite, new GroupCommitOptions { Writers = 1 }, TimeProvider.System);
        _storages.Add(storage);
        return storage;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var storage in _storages)
        {
            await storage.DisposeAsync();
        }
    }
}

public sealed class PostgresBedGrainStorageTests : BedGrainStorageContractTests, IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _resources = [];

    protected override async Task<IBedGrainStorage> CreateStorageAsync()
    {
        var database = PostgresDatabase.Create(await TestDatabases.CreatePostgresDatabaseAsync());
        await database.MigrateAsync(default);
        var storage = new SqlBedGrainStorage(async ct => await database.OpenAsync(ct), SqlDialect.Postgres, new GroupCommitOptions(), TimeProvider.System);
        _resources.Add(storage);
        _resources.Add(database);
        return storage;
    }

    /// <summary>A node catching up with another's commits gets unavailable (UNAVAILABLE to a client) when the database cannot be reached.</summary>
    [Fact]
    public async Task Referral_changes_asked_for_while_the_database_is_unreachable_fail_as_unavailable()
    {
        var storage = new SqlBedGrainStorage(async ct =>
        {
            var connection = new NpgsqlConnection("Host=127.0.0.1;Port=1;Username=postgres;Timeout=2");
            await connection.OpenAsync(ct);
            return connection;
        }, SqlDialect.Postgres, new GroupCommitOptions(), TimeProvider.System);
        _resources.Add(storage);

        await Assert.ThrowsAsync<StorageUnavailableException>(() => storage.LoadReferralChangesAsync(new BedGrainKey("HOSP-1", "CARD"), 1, 0, default));
    }

    /// <summary>
    /// Writers keep their connection from one batch to the next (a warm backend): one that the
    /// server dropped meanwhile fails its batch alone, writes nothing, and the next batch commits
    /// on a fresh connection.
    /// </summary>
    [Fact]
    public async Task A_batch_on_a_writer_connection_the_server_dropped_fails_alone_and_the_next_commits()
    {
        var connectionString = await TestDatabases.CreatePostgresDatabaseAsync();
        var database = PostgresDatabase.Create(connectionString);
        _resources.Add(database);
        await database.MigrateAsync(default);
        var storage = new SqlBedGrainStorage(async ct => await database.OpenAsync(ct), SqlDialect.Postgres, new GroupCommitOptions { Writers = 1 }, TimeProvider.System);
        _resources.Add(storage);
        var key = new BedGrainKey("HOSP-1", "CARD");
        var day = new DateOnly(2026, 11, 3);
        BedGrainChange Change(long version) => new(version, null, [new CalendarSlots(day, (int)version)], [], [], null, 1, 1, "PC-1");
        await storage.CommitAsync(key, 0, Change(1), default);

        // Every backend of the test's database ends, as on a server restart or an idle timeout.
        await using (var admin = new NpgsqlConnection(TestDatabases.PostgresAdmin))
        {
            await admin.OpenAsync();
            await using var terminate = new NpgsqlCommand(
                "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity WHERE datname = $1", admin);
            terminate.Parameters.Add(new NpgsqlParameter { Value = new NpgsqlConnectionStringBuilder(connectionString).Database! });
            Assert.True((long)(await terminate.ExecuteScalarAsync())! >= 1, "the writer's backend was not found");
        }

        await Assert.ThrowsAsync<StorageUnavailableException>(() => storage.CommitAsync(key, 1, Change(2), default));
        Assert.Equal(1, (await storage.LoadAsync(key, DateTimeOffset.MinValue, default))!.Version);

        await storage.CommitAsync(key, 1, Change(2), default);
        var loaded = (await storage.LoadAsync(key, DateTimeOffset.MinValue, default))!;
        Assert.Equal(2, loaded.Version);
        Assert.Equal([new CalendarSlots(day, 2)], loaded.Calendar);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var resource in _resources)
        {
            await resource.DisposeAsync();
        }
    }
}
