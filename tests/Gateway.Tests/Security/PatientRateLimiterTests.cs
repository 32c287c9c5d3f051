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
}
