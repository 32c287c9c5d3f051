using BedBureau.BedGrain.Storage;
using BedBureau.BedGrain.Tests;
using BedBureau.Gateway.Storage;

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

    public async ValueTask DisposeAsync()
    {
        foreach (var resource in _resources)
        {
            await resource.DisposeAsync();
        }
    }
}
