using System.Data.Common;
using BedBureau.Gateway.Security;

namespace BedBureau.Gateway.Storage;

/// <summary>
/// The storage the configuration names: PostgreSQL when <c>ConnectionStrings:Postgres</c> is
/// set, otherwise SQLite in the data directory (the embedded default).
/// </summary>
public sealed class GatewayStorage : IAsyncDisposable
{
    private readonly PostgresDatabase? _postgres;
    private readonly SqliteDatabase? _sqlite;

    private GatewayStorage(string node, PostgresDatabase? postgres, SqliteDatabase? sqlite, GroupCommitOptions options, TimeProvider time, StorageMetrics? metrics, bool nodeCoherence)
    {
        _postgres = postgres;
        _sqlite = sqlite;
        Open = postgres is not null
            ? async ct => await postgres.OpenAsync(ct).ConfigureAwait(false)
            : async ct => await sqlite!.OpenAsync(ct).ConfigureAwait(false);
        Dialect = postgres is not null ? SqlDialect.Postgres : SqlDialect.Sqlite;
        Organizations = new SqlOrganizationStore(Open, Dialect);
        Directory = new DirectoryStore(Open);
        NodeId = node;
        Grains = new SqlBedGrainStorage(Open, Dialect, options, time, metrics, postgres is not null && nodeCoherence ? NodeId : null);
        Patients = new SqlPatientGrainStorage(Open, Dialect, options, time);
        Audit = new AuditLog(Open, Dialect, options.Writers);
    }

    public Func<CancellationToken, ValueTask<DbConnection>> Open { get; }

    /// <summary>This process among the nodes sharing the database (for the notices of its commits).</summary>
    public string NodeId { get; }

    /// <summary>PostgreSQL; null on SQLite.</summary>
    public PostgresDatabase? Postgres => _postgres;

    /// <summary>True when this node tells the others of its commits and hears theirs (<c>Storage:NodeCoherence</c>, PostgreSQL only).</summary>
    public bool NodeCoherence => Grains.NotifyAs is not null;

    public SqlDialect Dialect { get; }

    public IOrganizationStore Organizations { get; }

    public DirectoryStore Directory { get; }

    public SqlBedGrainStorage Grains { get; }

    /// <summary>The patient grains' rows: used when the patient rule is durable (<c>Bureau:PatientRule</c>).</summary>
    public SqlPatientGrainStorage Patients { get; }

    public AuditLog Audit { get; }

    public string Description => _postgres is not null
        ? $"PostgreSQL {_postgres.DataSource.ConnectionString.Split(';').FirstOrDefault(p => p.StartsWith("Host", StringComparison.OrdinalIgnoreCase))}"
        : $"SQLite {_sqlite!.Path}";

    /// <summary><c>Storage:DataDirectory</c>, by default <c>./data</c> under the working directory (not the binary's).</summary>
    public static string DataDirectoryOf(IConfiguration configuration) =>
        Path.GetFullPath(configuration["Storage:DataDirectory"] is { Length: > 0 } configured ? configured : "data", Environment.CurrentDirectory);

    public static GatewayStorage Create(IConfiguration configuration, string dataDirectory, TimeProvider time, StorageMetrics? metrics)
    {
        var section = configuration.GetSection("Storage");
        var postgres = configuration.GetConnectionString("Postgres");
        var options = new GroupCommitOptions
        {
            MaxBatchSize = section.GetValue("MaxBatchSize", 256),
            Writers = string.IsNullOrEmpty(postgres) ? 1 : section.GetValue("Writers", 2),
            Readers = section.GetValue("Readers", 2),
            QueueCapacity = section.GetValue("QueueCapacity", 20_000),
        };
        var coherence = section.GetValue("NodeCoherence", true);
        var node = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6)).ToLowerInvariant();
        return string.IsNullOrEmpty(postgres)
            ? new GatewayStorage(node, null, new SqliteDatabase(Path.Combine(dataDirectory, "bedbureau.db")), options, time, metrics, coherence)
            : new GatewayStorage(node, PostgresDatabase.Create(postgres, node), null, options, time, metrics, coherence);
    }

    public Task MigrateAsync(CancellationToken cancellationToken) =>
        _postgres is not null ? _postgres.MigrateAsync(cancellationToken) : _sqlite!.MigrateAsync(cancellationToken);

    /// <summary>
    /// After a bulk load (the sample), PostgreSQL's statistics and visibility map (which index-only
    /// scans need) are made now, not by autovacuum under the first hour's load. SQLite has no such
    /// debt; its plans were chosen without statistics and stay so.
    /// </summary>
    public async Task AfterBulkLoadAsync(CancellationToken cancellationToken)
    {
        if (Dialect != SqlDialect.Postgres)
        {
            return;
        }

        await using var connection = await Open(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "VACUUM ANALYZE";
        command.CommandTimeout = 0;
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>True when the database answers a trivial query (health, readiness).</summary>
    public async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await Open(cancellationToken).ConfigureAwait(false);
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT 1";
            await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);

            // Npgsql still returns an answer that comes after the token fired (its cancellation
            // races the reply): a database that slow is not serving either.
            return !cancellationToken.IsCancellationRequested;
        }
        catch (Exception)
        {
            // A ping that times out is an unreachable database too; it must not end the health monitor.
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Grains.DisposeAsync().ConfigureAwait(false);
        await Patients.DisposeAsync().ConfigureAwait(false);
        await Audit.DisposeAsync().ConfigureAwait(false);
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync().ConfigureAwait(false);
        }
    }
}
