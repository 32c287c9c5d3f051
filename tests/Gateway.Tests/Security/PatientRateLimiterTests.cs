using System.Net;
using BedBureau.Gateway.Security;
using Microsoft.Extensions.Time.Testing;

namespace BedBureau.Gateway.Tests.Security;

public sealed class PatientRateLimiterTests
{
    [Fact]
    public void Addresses_of_one_ipv6_64_share_a_bucket_and_other_blocks_do_not()
    {
        var limiter = new PatientRateLimiter(new FakeTimeProvider(), perSecond: 1, burst: 3);
        var allowed = Enumerable.Range(0, 10).Count(i => limiter.TryTake(IPAddress.Parse($"2001:db8:1:2::{i:x}")) is null);

        Assert.Equal(3, allowed);
        Assert.Null(limiter.TryTake(IPAddress.Parse("2001:db8:1:3::1")));
    }

    [Fact]
    public void An_ipv4_address_mapped_into_ipv6_is_the_ipv4_address()
    {
        Assert.Equal(IPAddress.Parse("192.0.2.7"), PatientRateLimiter.KeyOf(IPAddress.Parse("::ffff:192.0.2.7")));
        Assert.Equal(IPAddress.Parse("2001:db8:1:2::"), PatientRateLimiter.KeyOf(IPAddress.Parse("2001:db8:1:2:aaaa:bbbb:cccc:dddd")));
    }

    [Fact]
    public void Buckets_refilled_to_the_burst_are_dropped_and_an_empty_one_is_kept()
    {
        var time = new FakeTimeProvider();
        var limiter = new PatientRateLimiter(time, perSecond: 1, burst: 3, trackedAddresses: 100);
        for (var i = 0; i < 100; i++)
        {
            limiter.TryTake(IPAddress.Parse($"198.51.100.{i}"));
        }

        // The 100 refill meanwhile and the next lookup sweeps them; one address then spends its bucket.
        var attacker = IPAddress.Parse("203.0.113.9");
        time.Advance(TimeSpan.FromSeconds(2));
        for (var i = 0; i < 3; i++)
        {
            Assert.Null(limiter.TryTake(attacker));
        }

        limiter.TryTake(IPAddress.Parse("198.51.100.200"));

        Assert.Equal(2, limiter.TrackedAddresses);
        Assert.NotNull(limiter.TryTake(attacker));
    }

    [Fact]
    public void Failed_lookups_within_the_national_budget_cost_their_address_nothing_more()
    {
        var limiter = new PatientRateLimiter(new FakeTimeProvider(), perSecond: 1, burst: 3, failuresPerSecond: 1, failureBurst: 5);
        var patient = IPAddress.Parse("198.51.100.7");
        Assert.Null(limiter.TryTake(patient));

        Assert.False(limiter.Failed(patient));

        Assert.Null(limiter.TryTake(patient));
        Assert.Null(limiter.TryTake(patient));
        Assert.Equal(0, limiter.Penalties);
    }

    [Fact]
    public void Past_the_national_budget_a_failed_lookup_makes_its_address_wait_the_penalty_and_others_still_look_up()
    {
        var time = new FakeTimeProvider();
        var limiter = new PatientRateLimiter(time, perSecond: 1, burst: 30, failuresPerSecond: 0.001, failureBurst: 3, failurePenalty: TimeSpan.FromMinutes(15));
        for (var i = 0; i < 3; i++)
        {
            Assert.False(limiter.Failed(IPAddress.Parse($"203.0.113.{i}")));
        }

        var guesser = IPAddress.Parse("203.0.113.50");
        Assert.Null(limiter.TryTake(guesser));
        Assert.True(limiter.Failed(guesser));

        Assert.Equal(15 * 60 + 1, limiter.TryTake(guesser));
        Assert.Null(limiter.TryTake(IPAddress.Parse("198.51.100.7")));
        time.Advance(TimeSpan.FromMinutes(15));
        Assert.NotNull(limiter.TryTake(guesser));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(limiter.TryTake(guesser));
        Assert.Equal(4, limiter.Failures);
        Assert.Equal(1, limiter.Penalties);
    }

    [Fact]
    public void A_spent_budget_refills_at_its_rate()
    {
        var time = new FakeTimeProvider();
        var limiter = new PatientRateLimiter(time, perSecond: 1, burst: 30, failuresPerSecond: 2, failureBurst: 2);
        var address = IPAddress.Parse("192.0.2.1");
        Assert.False(limiter.Failed(address));
        Assert.False(limiter.Failed(address));
        Assert.True(limiter.Failed(IPAddress.Parse("192.0.2.2")));

        time.Advance(TimeSpan.FromSeconds(1));

        Assert.False(limiter.Failed(address));
        Assert.False(limiter.Failed(address));
        Assert.True(limiter.Failed(address));
    }

    [Fact]
    public void A_penalized_address_is_kept_by_the_sweep_until_its_penalty_is_over()
    {
        var time = new FakeTimeProvider();
        var limiter = new PatientRateLimiter(time, perSecond: 1, burst: 3, trackedAddresses: 2, failuresPerSecond: 0.001, failureBurst: 0, failurePenalty: TimeSpan.FromMinutes(15));
        var guesser = IPAddress.Parse("203.0.113.9");
        limiter.Failed(guesser);
        time.Advance(TimeSpan.FromMinutes(1));

        // Two other addresses fill the table; the next lookup sweeps it.
        limiter.TryTake(IPAddress.Parse("198.51.100.1"));
        limiter.TryTake(IPAddress.Parse("198.51.100.2"));
        time.Advance(TimeSpan.FromMinutes(1));
        limiter.TryTake(IPAddress.Parse("198.51.100.3"));

        Assert.NotNull(limiter.TryTake(guesser));
    }
}
