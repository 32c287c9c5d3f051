using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Time.Testing;

namespace BedBureau.Gateway.Tests;

/// <summary>The drill clock (Drill:ClockAheadDays): the machine's clock moved ahead, for drills only.</summary>
public sealed class DrillClockTests
{
    private static IConfiguration Configuration(string? days) =>
        new ConfigurationBuilder().AddInMemoryCollection(days is null ? [] : [KeyValuePair.Create(DrillClock.Setting, (string?)days)]).Build();

    [Fact]
    public void The_drill_clock_tells_the_machine_time_moved_ahead_and_keeps_the_machine_timers()
    {
        var machine = new FakeTimeProvider(new DateTimeOffset(2026, 12, 3, 9, 0, 0, TimeSpan.FromHours(5)));
        var clock = new DrillClock(machine, TimeSpan.FromDays(3));
        var fired = 0;
        using var timer = clock.CreateTimer(_ => fired++, null, TimeSpan.FromMinutes(1), Timeout.InfiniteTimeSpan);

        Assert.Equal(new DateTimeOffset(2026, 12, 6, 9, 0, 0, TimeSpan.FromHours(5)), clock.GetUtcNow());
        machine.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(0, fired);
        machine.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, fired);
        Assert.Equal(machine.GetTimestamp(), clock.GetTimestamp());
    }

    [Fact]
    public async Task A_drill_clock_stops_the_start_on_a_store_not_seeded_with_the_sample()
    {
        var data = Path.Combine(Path.GetTempPath(), "bedbureau-drill", Guid.NewGuid().ToString("N"));
        try
        {
            await using var app = GatewayApp.Build(
            [
                $"--Storage:DataDirectory={data}",
                "--Sample:Enabled=false",
                $"--{DrillClock.Setting}=3",
                "--Logging:LogLevel:Default=Warning",
            ]);

            var error = await Assert.ThrowsAsync<InvalidOperationException>(() => GatewayApp.InitializeAsync(app));

            Assert.StartsWith($"{DrillClock.Setting} runs only on a store seeded with the national sample", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("0", 0.0)]
    [InlineData("3", 3.0)]
    [InlineData("0.5", 0.5)]
    public void The_setting_gives_the_days_ahead_and_its_absence_none(string? setting, double? days)
    {
        Assert.Equal(days is { } d ? TimeSpan.FromDays(d) : null, DrillClock.AheadOf(Configuration(setting)));
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("367")]
    [InlineData("NaN")]
    public void Days_ahead_out_of_0_to_366_stop_the_start_naming_the_setting(string setting)
    {
        var error = Assert.Throws<InvalidOperationException>(() => DrillClock.AheadOf(Configuration(setting)));

        Assert.StartsWith($"{DrillClock.Setting} is ", error.Message, StringComparison.Ordinal);
    }
}
