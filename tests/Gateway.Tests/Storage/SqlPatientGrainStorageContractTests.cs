using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Storage;
using BedBureau.BedGrain.Tests;
using BedBureau.Gateway.Storage;

namespace BedBureau.Gateway.Tests.Storage;

public sealed class SqlitePatientGrainStorageTests : PatientGrainStorageContractTests, IAsyncDisposable
{
    private readonly List<SqlPatientGrainStorage> _storages = [];

    protected override async Task<IPatientGrainStorage> CreateStorageAsync()
    {
        var database = new SqliteDatabase(TestDatabases.NewSqlitePath());
        await database.MigrateAsync(default);
        var storage = new SqlPatientGrainStorage(async ct => await database.OpenAsync(ct), SqlDialect.Sqlite, new GroupCommitOptions { Writers = 1 }, TimeProvider.System);
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

public sealed class PostgresPatientGrainStorageTests : PatientGrainStorageContractTests, IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _resources = [];

    protected override async Task<IPatientGrainStorage> CreateStorageAsync()
    {
        var database = PostgresDatabase.Create(await TestDatabases.CreatePostgresDatabaseAsync());
        await database.MigrateAsync(default);
        var storage = new SqlPatientGrainStorage(async ct => await database.OpenAsync(ct), SqlDialect.Postgres, new GroupCommitOptions(), TimeProvider.System);
        _resources.Add(storage);
        _resources.Add(database);
        return storage;
    }

    /// <summary>As the bed grains' storage: a database that does not answer is UNAVAILABLE upstream, never a conflict.</summary>
    [Fact]
    public async Task An_unreachable_database_fails_loads_and_commits_as_unavailable()
    {
        // Nothing listens on port 1 of the loopback: the connection is refused at once.
        var database = PostgresDatabase.Create("Host=127.0.0.1;Port=1;Username=postgres;Database=none;Timeout=2");
        _resources.Add(database);
        var storage = new SqlPatientGrainStorage(async ct => await database.OpenAsync(ct), SqlDialect.Postgres, new GroupCommitOptions(), TimeProvider.System);
        _resources.Add(storage);
        var key = new PatientGrainKey("c2f1a9", "101");

        await Assert.ThrowsAsync<StorageUnavailableException>(() => storage.LoadAsync(key, default));
        await Assert.ThrowsAsync<StorageUnavailableException>(() => storage.CommitAsync(key, 0, null, default));
        await Assert.ThrowsAsync<StorageUnavailableException>(() => storage.AdoptActiveReferralsAsync(default));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var resource in _resources)
        {
            await resource.DisposeAsync();
        }
    }
}
