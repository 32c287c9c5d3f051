using BedBureau.HospitalAdapter.Push;

namespace BedBureau.HospitalAdapter.Tests;

public sealed class BackoffTests
{
    [Fact]
    public void Doubles_up_to_the_cap_with_jitter_in_the_upper_half()
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60), new Random(7));

        for (var attempt = 0; attempt < 40; attempt++)
        {
            var ceiling = Math.Min(60, Math.Pow(2, Math.Min(attempt, 30)));
            var delay = backoff.Delay(attempt).TotalSeconds;
            Assert.InRange(delay, ceiling / 2, ceiling);
        }
    }

    [Fact]
    public void Two_clients_failing_together_retry_at_different_times()
    {
        var a = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5), new Random(1));
        var b = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5), new Random(2));

        Assert.NotEqual(Enumerable.Range(0, 5).Select(a.Delay), Enumerable.Range(0, 5).Select(b.Delay));
    }
}
