using Npgsql;

namespace BedBureau.Gateway.Storage;

/// <summary>PostgreSQL through Npgsql: the production storage.</summary>
public sealed class PostgresDatabase(NpgsqlDataSource dataSource, NpgsqlDataSource listeners) : IAsyncDisposable
{
    /// <summary>The application name of the connection on which node <paramref name="node"/> hears the others' commits.</summary>
    public static string ListenerApplicationName(string node) => $"bedbureau-listener-{node}";

    // Any constant: all nodes take the same advisory lock while migrating.
    private const long MigrationLockKey = 0x4265644275726561;

    public NpgsqlDataSource DataSource { get; } = dataSource;

    /// <summary>
    /// Connections beyond a few per core only queue inside PostgreSQL: a national reporting hour
    /// after a restart (a grain load per profile) ran 1.6x faster with 16 than with Npgsql's 100
    /// on two cores. The connection string's <c>Maximum Pool Size</c> overrides it.
    /// </summary>
    public static int DefaultMaxPoolSize => Math.Max(16, 4 * Environment.ProcessorCount);

    /// <summary>
    /// The gateway runs a few dozen statements again and again (the group commit's, the loads');
    /// prepared on each connection they are parsed and planned once instead of every time (about
    /// a fifth of PostgreSQL's CPU per bed report: bench/README.md, national day). The
    /// connection string's <c>Max Auto Prepare</c> overrides it (0: never, e.g. behind a
    /// transaction-pooling proxy that does not keep prepared statements).
    /// </summary>
    public const int DefaultMaxAutoPrepare = 64;

    /// <param name="node">This process among the nodes (names its listener's connection).</param>
    public static PostgresDatabase Create(string connectionString, string node = "node")
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        if (!given.ContainsKey("Maximum Pool Size") && !given.ContainsKey("MaxPoolSize"))
        {
            builder.ConnectionStringBuilder.MaxPoolSize = DefaultMaxPoolSize;
        }

        if (!given.ContainsKey("Max Auto Prepare") && !given.ContainsKey("MaxAutoPrepare"))
        {
            builder.ConnectionStringBuilder.MaxAutoPrepare = DefaultMaxAutoPrepare;
        }

        // The listener keeps its connection for good: not one of the pool's.
        var listeners = new NpgsqlDataSourceBuilder(connectionString);
        listeners.ConnectionStringBuilder.Pooling = false;
        listeners.ConnectionStringBuilder.ApplicationName = ListenerApplicationName(node);
        listeners.ConnectionStringBuilder.KeepAlive = 10;
        return new PostgresDatabase(builder.Build(), listeners.Build());
    }

    /// <summary>A connection of its own, outside the pool, for LISTEN (<see cref="NodeCoherence"/>).</summary>
    public ValueTask<NpgsqlConnection> OpenListenerAsync(CancellationToken cancellationToken) => listeners.OpenConnectionAsync(cancellationToken);

    /// <summary>
    /// Applies the missing migrations in one transaction under an advisory lock, so any number
    /// of nodes may start at once; safe on every start.
    /// </summary>
    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, transaction, $"SELECT pg_advisory_xact_lock({MigrationLockKey})", cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, transaction,
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
            cancellationToken).ConfigureAwait(false);
        var applied = new HashSet<int>();
        await using (var command = new NpgsqlCommand("SELECT version FROM schema_migrations", connection, transaction))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                applied.Add(reader.GetInt32(0));
            }
        }

        foreach (var migration in Migrations.All.Where(m => !applied.Contains(m.Version)))
        {
            await ExecuteAsync(connection, transaction, migration.Postgres, cancellationToken).ConfigureAwait(false);
            await using var record = new NpgsqlCommand("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", connection, transaction);
            record.Parameters.Add(new NpgsqlParameter { Value = migration.Version });
            record.Parameters.Add(new NpgsqlParameter { Value = migration.Name });
            await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
        {
            throw new StorageUnavailableException("PostgreSQL is unreachable.", ex);
        }
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await listeners.DisposeAsync().ConfigureAwait(false);
        await DataSource.DisposeAsync().ConfigureAwait(false);
    }
}
