using BedBureau.Gateway.Storage;

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

    private static async Task<string?> PragmaAsync(System.Data.Common.DbConnection connection, string name)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA {name}";
        return Convert.ToString(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
