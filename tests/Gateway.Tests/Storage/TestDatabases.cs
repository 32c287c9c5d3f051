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

    /// <summary>A new, empty PostgreSQL database; returns its connection string.</summary>
    public static async Task<string> CreatePostgresDatabaseAsync()
    {
        var name = $"bb_test_{Guid.NewGuid():N}";
        await using (var connection = new NpgsqlConnection(PostgresAdmin))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await create.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(PostgresAdmin) { Database = name }.ConnectionString;
    }

    /// <summary>A path for a new SQLite database file.</summary>
    public static string NewSqlitePath() => Path.Combine(Path.GetTempPath(), "bedbureau-tests", $"{Guid.NewGuid():N}.db");
}
