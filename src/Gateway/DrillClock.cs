namespace BedBureau.Gateway;

/// <summary>
/// For drills and load tests only: the machine's clock moved <c>Drill:ClockAheadDays</c> ahead,
/// so that a gateway restarted on its store lives through what falls due days later (no-shows)
/// without the wait. Timers and elapsed time stay the machine's.
/// </summary>
internal sealed class DrillClock(TimeProvider machine, TimeSpan ahead) : TimeProvider
{
    public const string Setting = "Drill:ClockAheadDays";

    public TimeSpan Ahead => ahead;

    public override DateTimeOffset GetUtcNow() => machine.GetUtcNow() + ahead;

    public override long GetTimestamp() => machine.GetTimestamp();

    public override long TimestampFrequency => machine.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => machine.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        machine.CreateTimer(callback, state, dueTime, period);

    /// <summary>The span <see cref="Setting"/> asks for, if any; a value out of 0-366 days stops the start.</summary>
    public static TimeSpan? AheadOf(IConfiguration configuration)
    {
        if (configuration.GetValue<double?>(Setting) is not { } days)
        {
            return null;
        }

        if (!(days is >= 0 and <= 366))
        {
            throw new InvalidOperationException($"{Setting} is {days}: give the days ahead of this machine's clock, from 0 to 366, for a drill only.");
        }

        return TimeSpan.FromDays(days);
    }
}
