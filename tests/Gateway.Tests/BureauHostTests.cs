using BedBureau.BedGrain.Domain;
using BedBureau.Gateway.Storage;
using Microsoft.Extensions.Configuration;

namespace BedBureau.Gateway.Tests;

/// <summary>The bureau's configuration as the gateway reads it at start-up.</summary>
public sealed class BureauHostTests
{
    private static IConfiguration Configuration(params (string Key, string Value)[] settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value))).Build();

    [Fact]
    public void The_shipped_settings_make_kurban_ait_2026_a_day_off()
    {
        var shipped = new ConfigurationBuilder().AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json")).Build();

        var calendar = BureauHost.WorkingDays(shipped);

        Assert.False(calendar.IsWorkingDay(new DateOnly(2026, 5, 27)));
        Assert.True(WorkingDayCalendar.Default.IsWorkingDay(new DateOnly(2026, 5, 27)));
    }

    [Fact]
    public void Days_off_and_working_days_come_as_a_list_or_one_comma_separated_value()
    {
        // Bureau__DaysOff__0=2026-12-31 in the environment is the key Bureau:DaysOff:0.
        var calendar = BureauHost.WorkingDays(Configuration(
            ("Bureau:DaysOff:0", "2026-12-31"),
            ("Bureau:DaysOff:1", "2027-01-05"),
            ("Bureau:WorkingDays", "2027-01-09, 2027-01-10")));

        Assert.False(calendar.IsWorkingDay(new DateOnly(2026, 12, 31)));
        Assert.False(calendar.IsWorkingDay(new DateOnly(2027, 1, 5)));
        Assert.True(calendar.IsWorkingDay(new DateOnly(2027, 1, 9)));
        Assert.True(calendar.IsWorkingDay(new DateOnly(2027, 1, 10)));

        // Registered on Wednesday 30 December 2026, due at the end of Friday 8 January: not counted
        // are 31 December and 5 January (configured), 1, 2 and 7 January (holidays) and 4 January
        // (moved from Saturday 2 January).
        var due = calendar.EndOfWorkingDaysAfter(new DateTimeOffset(2026, 12, 30, 12, 0, 0, WorkingDayCalendar.KazakhstanOffset), 2);
        Assert.Equal(new DateTimeOffset(2027, 1, 9, 0, 0, 0, WorkingDayCalendar.KazakhstanOffset), due);
    }

    [Theory]
    [InlineData("Bureau:DaysOff:0", "27.05.2026", "Bureau:DaysOff:0 is \"27.05.2026\"")]
    [InlineData("Bureau:DaysOff:0", "2026-02-30", "Bureau:DaysOff:0 is \"2026-02-30\"")]
    [InlineData("Bureau:WorkingDays", "2027-01-09,2027-13-01", "Bureau:WorkingDays is \"2027-13-01\"")]
    public void A_date_that_does_not_parse_stops_the_start_naming_the_key(string key, string value, string message)
    {
        var error = Assert.Throws<InvalidOperationException>(() => BureauHost.WorkingDays(Configuration((key, value))));

        Assert.StartsWith(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_day_both_off_and_working_stops_the_start()
    {
        var error = Assert.Throws<InvalidOperationException>(() => BureauHost.WorkingDays(Configuration(
            ("Bureau:DaysOff:0", "2027-01-09"), ("Bureau:WorkingDays:0", "2027-01-09"))));

        Assert.Contains("2027-01-09", error.Message, StringComparison.Ordinal);
    }

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
