using BedBureau.Gateway.Storage;
using Npgsql;

namespace BedBureau.Gateway.Tests.Storage;

public sealed class PostgresPoolTests
{
    [Fact]
    public async Task The_pool_is_a_few_connections_per_core_unless_the_connection_string_sizes_it()
    {
        await using var unsized = PostgresDatabase.Create("Host=db;Username=bedbureau;Database=bedbureau");
        await using var sized = PostgresDatabase.Create("Host=db;Username=bedbureau;Database=bedbureau;Maximum Pool Size=50");

        Assert.Equal(PostgresDatabase.DefaultMaxPoolSize, new NpgsqlConnectionStringBuilder(unsized.DataSource.ConnectionString).MaxPoolSize);
        Assert.Equal(50, new NpgsqlConnectionStringBuilder(sized.DataSource.ConnectionString).MaxPoolSize);
        Assert.InRange(PostgresDatabase.DefaultMaxPoolSize, 16, 4 * Math.Max(4, Environment.ProcessorCount));
    }

    [Fact]
    public async Task Statements_are_prepared_automatically_unless_the_connection_string_says_otherwise()
    {
        await using var unset = PostgresDatabase.Create("Host=db;Username=bedbureau;Database=bedbureau");
        await using var off = PostgresDatabase.Create("Host=db;Username=bedbureau;Database=bedbureau;Max Auto Prepare=0");

        Assert.Equal(PostgresDatabase.DefaultMaxAutoPrepare, new NpgsqlConnectionStringBuilder(unset.DataSource.ConnectionString).MaxAutoPrepare);
        Assert.Equal(0, new NpgsqlConnectionStringBuilder(off.DataSource.ConnectionString).MaxAutoPrepare);
    }
}
