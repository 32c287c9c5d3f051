using BedBureau.Gateway.Storage;
using Microsoft.Extensions.Configuration;

namespace BedBureau.Gateway.Tests;

public sealed class BureauHostTests
{
    private static IConfiguration Settings(string? rule) =>
        new ConfigurationBuilder().AddInMemoryCollection(rule is null ? [] : [new KeyValuePair<string, string?>("Bureau:PatientRule", rule)]).Build();

    [Theory]
    [InlineData(null, "PostgreSQL", true)]
    [InlineData(null, "SQLite", false)]
    [InlineData("Process", "PostgreSQL", false)]
    [InlineData("durable", "SQLite", true)]
    public void The_patient_rule_is_durable_on_PostgreSQL_and_in_process_on_SQLite_unless_configured(string? rule, string database, bool durable)
    {
        var dialect = database == "PostgreSQL" ? SqlDialect.Postgres : SqlDialect.Sqlite;

        Assert.Equal(durable, BureauHost.PatientRuleIsDurable(Settings(rule), dialect));
    }

    [Fact]
    public void An_unknown_patient_rule_stops_the_start()
    {
        var error = Assert.Throws<InvalidOperationException>(() => BureauHost.PatientRuleIsDurable(Settings("Redis"), SqlDialect.Postgres));

        Assert.Contains("Bureau:PatientRule", error.Message, StringComparison.Ordinal);
    }
}
