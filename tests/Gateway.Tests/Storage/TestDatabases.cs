using Npgsql;

namespace BedBureau.Gateway.Tests.Storage;

/// <summary>
/// The real servers the integration tests use, started by .ci/run and named by environment
/// variables. A missing server fails the tests that need it: they are never skipped.
/// </summary>
public static class TestDatabases
{
    public static string PostgresAdmin =>
        Environment.GetEnvironmentVariable("BEDBUREAU_TEST_POSTGRES")
        ?? throw new InvalidOperationException("BEDBUREAU_TEST_POSTGRES is not set: run the tests through .ci/run, which starts PostgreSQL.");

    private static readonly Lazy<Task> StaleDropped = new(DropStaleAsync);

    /// <summary>A new, empty PostgreSQL database; returns its connection string.</summary>
    public static async Task<string> CreatePostgresDatabaseAsync()
    {
        await StaleDropped.Value;
        var name = $"bb_test_{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}_{Guid.NewGuid():N}";
        await using (var connection = new NpgsqlConnection(PostgresAdmin))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await create.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(PostgresAdmin) { Database = name }.ConnectionString;
    }

    /// <summary>
    /// Drops the test databases of runs that ended, once per run, so that a developer's server
    /// does not fill up (CI's is thrown away anyway). A run lasts minutes and its databases carry
    /// their creation time, so one older than an hour is no one's. (Dropping each at the end of
    /// the run is not reliable: the test host is stopped soon after the last test.)
    /// </summary>
    private static async Task DropStaleAsync()
    {
        var cutoff = DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeSeconds();
        await using var connection = new NpgsqlConnection(PostgresAdmin);
        await connection.OpenAsync();
        var stale = new List<string>();
        await using (var list = new NpgsqlCommand("SELECT datname FROM pg_database WHERE datname LIKE 'bb\\_test\\_%'", connection))
        await using (var reader = await list.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                var name = reader.GetString(0);
                var created = name.Split('_') is [_, _, var seconds, _] && long.TryParse(seconds, out var parsed) ? parsed : 0;
                if (created < cutoff)
                {
                    stale.Add(name);
                }
            }
        }

        foreach (var name in stale)
        {
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", connection);
            await drop.ExecuteNonQueryAsync();
        }
    }

    /// <summary>A path for a new SQLite database file.</summary>
    public static string NewSqlitePath() => Path.Combine(Path.GetTempPath(), "bedbureau-tests", $"{Guid.NewGuid():N}.db");
}
