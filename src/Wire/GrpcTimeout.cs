namespace BedBureau.Wire;

/// <summary>
/// The grpc-timeout header (PROTOCOL-HTTP2.md): at most 8 ASCII digits and a unit,
/// H hours, M minutes, S seconds, m milliseconds, u microseconds, n nanoseconds.
/// </summary>
public static class GrpcTimeout
{
    private const long MaxValue = 99_999_999;

    public static bool TryParse(string? value, out TimeSpan timeout)
    {
        timeout = default;
        if (value is null || value.Length is < 2 or > 9)
        {
            return false;
        }

        long amount = 0;
        for (var i = 0; i < value.Length - 1; i++)
        {
            var c = value[i];
            if (c is < '0' or > '9')
            {
                return false;
            }

            amount = amount * 10 + (c - '0');
        }

        long ticks;
        switch (value[^1])
        {
            case 'H': ticks = amount * TimeSpan.TicksPerHour; break;
            case 'M': ticks = amount * TimeSpan.TicksPerMinute; break;
            case 'S': ticks = amount * TimeSpan.TicksPerSecond; break;
            case 'm': ticks = amount * TimeSpan.TicksPerMillisecond; break;
            case 'u': ticks = amount * 10; break;
            case 'n': ticks = amount / 100; break;
            default: return false;
        }

        timeout = TimeSpan.FromTicks(ticks);
        return true;
    }

    /// <summary>The shortest encoding with at most 8 digits, rounding up so no deadline is shortened.</summary>
    public static string Format(TimeSpan timeout)
    {
        if (timeout <= TimeSpan.Zero)
        {
            return "1n";
        }

        var ticks = timeout.Ticks;
        foreach (var (unitTicks, unit) in Units)
        {
            var amount = CeilDiv(ticks, unitTicks);
            if (amount <= MaxValue)
            {
                return amount + unit;
            }
        }

        return MaxValue + "H";
    }

    private static readonly (long Ticks, string Unit)[] Units =
    [
        (10, "u"),
        (TimeSpan.TicksPerMillisecond, "m"),
        (TimeSpan.TicksPerSecond, "S"),
        (TimeSpan.TicksPerMinute, "M"),
        (TimeSpan.TicksPerHour, "H"),
    ];

    // Not (value + divisor - 1) / divisor: that overflows near TimeSpan.MaxValue.
    private static long CeilDiv(long value, long divisor) => value / divisor + (value % divisor == 0 ? 0 : 1);
}
