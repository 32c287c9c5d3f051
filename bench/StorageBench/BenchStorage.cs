using System.Diagnostics.Metrics;
using BedBureau.BedGrain;
using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Storage;
using BedBureau.Gateway;
using BedBureau.Gateway.ReferenceData;
using BedBureau.Gateway.Sample;
using BedBureau.Gateway.Security;
using BedBureau.Gateway.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace BedBureau.StorageBench;

/// <summary>A fresh database (PostgreSQL or SQLite) with the gateway's storage on it, as the gateway configures it.</summary>
internal sealed class BenchStorage : IAsyncDisposable
{
    /// <summary>A database named by the caller is kept for the next run; one made for this run is not.</summary>
    private readonly bool _kept;

    /// <summary>The admin connection that made the PostgreSQL database (and drops it).</summary>
    private readonly string? _admin;

    private BenchStorage(string kind, string? postgres, string dataDirectory, bool kept, string? admin)
    {
        Kind = kind;
        Postgres = postgres;
        DataDirectory = dataDirectory;
        _kept = kept;
        _admin = admin;
    }

    public string Kind { get; }

    public string? Postgres { get; }

    public string DataDirectory { get; }

    public static TimeProvider Time { get; } = TimeProvider.System;

    public static async Task<BenchStorage> CreateAsync(string kind, string? postgresAdmin, string? database = null)
    {
        var directory = Path.Combine(Path.GetTempPath(), "bedbureau-bench", database ?? Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        if (kind != "postgres")
        {
            return new BenchStorage(kind, null, directory, kept: database is not null, admin: null);
        }

        var name = database ?? $"bb_bench_{Guid.NewGuid():N}";
        await using (var connection = new NpgsqlConnection(postgresAdmin ?? throw new ArgumentException("--postgres (or BEDBUREAU_TEST_POSTGRES) is required")))
        {
            await connection.OpenAsync();
            await using var exists = new NpgsqlCommand($"SELECT 1 FROM pg_database WHERE datname = '{name}'", connection);
            if (await exists.ExecuteScalarAsync() is null)
            {
                await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
                await create.ExecuteNonQueryAsync();
            }
        }

        return new BenchStorage(kind, new NpgsqlConnectionStringBuilder(postgresAdmin) { Database = name, MaxPoolSize = 100 }.ConnectionString, directory,
            kept: database is not null, admin: postgresAdmin);
    }

    /// <summary>The gateway's storage (same settings keys) on this database.</summary>
    public async Task<GatewayStorage> OpenAsync(IDictionary<string, string?>? settings = null)
    {
        var values = new Dictionary<string, string?>(settings ?? new Dictionary<string, string?>());
        if (Postgres is not null)
        {
            values["ConnectionStrings:Postgres"] = Postgres;
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();
        var storage = GatewayStorage.Create(configuration, DataDirectory, Time, new StorageMetrics(meters));
        await storage.MigrateAsync(CancellationToken.None);
        return storage;
    }

    public static ReferenceDirectory DirectoryOf(NationalDataset sample) => new(
        sample.Hospitals.Select(h => new Hospital(h.Id, h.Name, h.RegionCode, h.Profiles.Select(p => p.ProfileCode).ToHashSet())),
        ReferenceCatalog.BedProfiles.Select(p => new BedProfile(p.Code, p.IsChild, p.NameEn)));

    /// <param name="patients">The patient grains' storage when the patient rule is durable; null: the in-process rule.</param>
    public static Bureau Bureau(ReferenceDirectory directory, IBedGrainStorage storage, IPatientGrainStorage? patients = null) =>
        new(directory, storage, new PersonalDataProtector("storage-bench-personal-data-secret"), Time, runtimeOptions: new BedGrain.Runtime.GrainRuntimeOptions { MailboxBound = 100_000 },
            patientStorage: patients);

    /// <summary>The patient rule the gateway would use with these settings (<c>--set Bureau:PatientRule=Durable|Process</c>), and its storage when durable.</summary>
    public static (string Name, IPatientGrainStorage? Storage) PatientRule(IDictionary<string, string?> settings, GatewayStorage storage)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        return BureauHost.PatientRuleIsDurable(configuration, storage.Dialect) ? ("durable patient grains", storage.Patients) : ("in-process patient holds", null);
    }

    /// <summary>Calendars (30 days of <paramref name="slots"/>, or the sample's) and censuses of every grain, through the grains.</summary>
    public static async Task SeedCalendarsAsync(Bureau bureau, NationalDataset sample, int? slots = null)
    {
        var today = WorkingDayCalendar.LocalDate(Time.GetUtcNow());
        await ParallelAsync(sample.Hospitals.SelectMany(h => h.Profiles.Select(p => (h, p))), 256, async item =>
        {
            var (hospital, profile) = item;
            var key = new BedGrainKey(hospital.Id, profile.ProfileCode);
            var actor = new Actor(hospital.Id, ActorRole.Hospital);
            var days = Enumerable.Range(0, 30).Select(d => new CalendarSlots(today.AddDays(d), slots ?? profile.SlotsPerDay)).ToArray();
            await bureau.SetAdmissionCapacityAsync(key, actor, "bench-calendar", days);
            await bureau.ReportBedsAsync(key, actor, "bench-census", new BedReport(profile.Total, profile.Occupied, profile.Total - profile.Occupied, 0, 0, null));
        });
    }

    public static async Task ParallelAsync<T>(IEnumerable<T> items, int parallel, Func<T, Task> work)
    {
        using var gate = new SemaphoreSlim(parallel);
        var tasks = new List<Task>();
        foreach (var item in items)
        {
            await gate.WaitAsync();
            tasks.Add(Task.Run(async () =>
            {
                try
                {
                    await work(item);
                }
                finally
                {
                    gate.Release();
                }
            }));
        }

        await Task.WhenAll(tasks);
    }

    /// <summary>A database made for this run is dropped (a named one is kept for the next).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_kept)
        {
            return;
        }

        Directory.Delete(DataDirectory, recursive: true);
        if (Postgres is not null)
        {
            NpgsqlConnection.ClearAllPools();
            await using var connection = new NpgsqlConnection(_admin);
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {new NpgsqlConnectionStringBuilder(Postgres).Database} WITH (FORCE)", connection);
            await drop.ExecuteNonQueryAsync();
        }
    }
}
