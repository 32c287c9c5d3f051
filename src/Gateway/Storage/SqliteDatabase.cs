using Microsoft.Data.Sqlite;

namespace BedBureau.Gateway.Storage;

/// <summary>
/// SQLite in WAL mode, one file in the data directory: the embedded default. Writes are
/// serialized by SQLite; the group committer batches them so one fsync serves many.
/// </summary>
public sealed class SqliteDatabase
{
    private readonly string _connectionString;

    public SqliteDatabase(string path)
    {
        Path = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
    }

    public string Path { get; }

    /// <summary>
    /// The WAL's length in pages (80 MB at 4 KB) past which a commit copies it into the database
    /// file. SQLite's default of 1,000 pages had the writer copy the same hot pages (a grain's
    /// row, the ends of the audit indexes) at almost every batch under load: on the national
    /// dataset, ReportBeds rounds wrote 83 KB to disk per profile update and reached about
    /// 12,000 updates/s; at 20,000 pages, 40 KB and about 16,000/s (bench/README.md).
    /// Durability is the same: a commit is in the WAL, synced, whenever it is copied.
    /// </summary>
    public const int WalCheckpointPages = 20_000;

    public async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);

            // WAL: readers never block the writer; synchronous=FULL: a commit is on disk when acknowledged.
            await using var pragmas = connection.CreateCommand();
            pragmas.CommandText = $"PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=30000; PRAGMA wal_autocheckpoint={WalCheckpointPages};";
            await pragmas.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch (SqliteException ex)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw new StorageUnavailableException("The SQLite database cannot be opened.", ex);
        }
    }

    /// <summary>Applies the missing migrations in one write transaction (BEGIN IMMEDIATE serializes processes).</summary>
    public Task MigrateAsync(CancellationToken cancellationToken) => MigrateAsync(int.MaxValue, cancellationToken);

    /// <summary>Applies the missing migrations up to <paramref name="throughVersion"/> (tests: a store as an older service left it).</summary>
    internal async Task MigrateAsync(int throughVersion, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(System.Data.IsolationLevel.Serializable, cancellationToken).ConfigureAwait(false);
        await using (var create = new SqliteCommand("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT (datetime('now')))", connection, transaction))
        {
            await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var applied = new HashSet<long>();
        await using (var query = new SqliteCommand("SELECT version FROM schema_migrations", connection, transaction))
        await using (var reader = await query.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                applied.Add(reader.GetInt64(0));
            }
        }

        foreach (var migration in Migrations.All.Where(m => m.Version <= throughVersion && !applied.Contains(m.Version)))
        {
            await using var apply = new SqliteCommand(migration.Sqlite, connection, transaction);
            await apply.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            await using var record = new SqliteCommand("INSERT INTO schema_migrations (version, name) VALUES ($version, $name)", connection, transaction);
            record.Parameters.AddWithValue("$version", migration.Version);
            record.Parameters.AddWithValue("$name", migration.Name);
            await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }
}
