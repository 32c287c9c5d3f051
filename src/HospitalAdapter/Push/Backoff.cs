namespace BedBureau.HospitalAdapter.Push;

/// <summary>
/// Exponential backoff with jitter: attempt n waits a random time in [d/2, d] with
/// d = min(max, initial * 2^n), so hospitals that lost the bureau together do not return together.
/// </summary>
public sealed class Backoff(TimeSpan initial, TimeSpan max, Random random)
{
    public static Backoff Default(Random? random = null) => new(TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5), random ?? Random.Shared);

    public TimeSpan Initial => initial;

    public TimeSpan Max => max;

    public TimeSpan Delay(int attempt)
    {
        var ceiling = Math.Min(max.TotalMilliseconds, initial.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 30)));
        return TimeSpan.FromMilliseconds(ceiling / 2 + random.NextDouble() * ceiling / 2);
    }
}
