using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using BedBureau.GrpcServer;
using BedBureau.Wire;

namespace BedBureau.Gateway.Security;

/// <summary>
/// Patients' lookups per client address: a token bucket (burst, then a steady rate), so guessing
/// access keys is hopeless: at 1 lookup/s an address gets about 3,600 guesses an hour against 2^50
/// keys (docs/reliability.md). An IPv6 client counts by its /64, the block one subscriber is given:
/// per full address one line would have 2^64 buckets. Past the limit: RESOURCE_EXHAUSTED with
/// "retry-after" (seconds) in the trailers.
/// <para>
/// Many addresses (a botnet) each within its limit are bounded by a national budget of failed
/// lookups (wrong key or unknown code): patients' typos fit in it many times over. Once it is
/// spent, an address whose lookup fails waits the penalty before its next one, so an attacker
/// gets one guess per address per penalty, while patients who type their coupon right, from
/// any address, see no difference.
/// </para>
/// </summary>
public sealed class PatientRateLimiter(TimeProvider time, double perSecond = 1.0, int burst = 30, int trackedAddresses = 100_000,
    double failuresPerSecond = 10, int failureBurst = 600, TimeSpan? failurePenalty = null)
{
    public static readonly TimeSpan DefaultFailurePenalty = TimeSpan.FromMinutes(15);

    private readonly ConcurrentDictionary<IPAddress, Bucket> _buckets = new();
    private readonly Bucket _failureBudget = new(failureBurst, time.GetTimestamp());
    private readonly double _penaltyTokens = (failurePenalty ?? DefaultFailurePenalty).TotalSeconds * perSecond;
    private long _lastSweep;
    private long _failures;
    private long _penalties;

    /// <summary>Patients' lookups that named an unknown code or the wrong key.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Failed lookups past the national budget, each of which made its address wait the penalty.</summary>
    public long Penalties => Interlocked.Read(ref _penalties);

    /// <summary>Addresses with a bucket now (for tests: buckets refilled to the burst are dropped).</summary>
    internal int TrackedAddresses => _buckets.Count;

    public void Take(ServerCallContext context)
    {
        if (TryTake(AddressOf(context)) is { } wait)
        {
            context.ResponseTrailers.Add("retry-after", wait.ToString(System.Globalization.CultureInfo.InvariantCulture));
            throw new RpcException(StatusCode.ResourceExhausted, $"[RATE_LIMITED] Too many lookups from this address; retry after {wait} s.");
        }
    }

    /// <summary>A lookup failed (unknown code or wrong key): it spends the national budget, or once that is spent, penalizes its address.</summary>
    public void Failed(ServerCallContext context) => Failed(AddressOf(context));

    /// <returns>Whether the address was penalized.</returns>
    internal bool Failed(IPAddress address)
    {
        Interlocked.Increment(ref _failures);
        var now = time.GetTimestamp();
        lock (_failureBudget)
        {
            _failureBudget.Tokens = Refilled(_failureBudget, now, failuresPerSecond, failureBurst);
            _failureBudget.Updated = now;
            if (_failureBudget.Tokens >= 1)
            {
                _failureBudget.Tokens -= 1;
                return false;
            }
        }

        // A bucket below zero refills to its first token after the penalty; until then TryTake
        // answers with the wait, and the sweep keeps it (only full buckets are dropped).
        Interlocked.Increment(ref _penalties);
        var bucket = _buckets.GetOrAdd(KeyOf(address), _ => new Bucket(burst, now));
        lock (bucket)
        {
            bucket.Tokens = Math.Min(Refilled(bucket, now), 0) - _penaltyTokens;
            bucket.Updated = now;
        }

        return true;
    }

    /// <summary>Takes a token of the address's bucket; null when taken, else the seconds to wait.</summary>
    internal double? TryTake(IPAddress address)
    {
        var now = time.GetTimestamp();
        if (_buckets.Count >= trackedAddresses)
        {
            Sweep(now);
        }

        var bucket = _buckets.GetOrAdd(KeyOf(address), _ => new Bucket(burst, now));
        lock (bucket)
        {
            bucket.Tokens = Refilled(bucket, now);
            bucket.Updated = now;
            if (bucket.Tokens >= 1)
            {
                bucket.Tokens -= 1;
                return null;
            }

            return Math.Ceiling((1 - bucket.Tokens) / perSecond);
        }
    }

    private static IPAddress AddressOf(ServerCallContext context) => context.HttpContext.Connection.RemoteIpAddress ?? IPAddress.None;

    /// <summary>The bucket's key: an IPv4 address (also one mapped into IPv6), or an IPv6 address's /64.</summary>
    internal static IPAddress KeyOf(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address;
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes);
    }

    private double Refilled(Bucket bucket, long now) => Refilled(bucket, now, perSecond, burst);

    private double Refilled(Bucket bucket, long now, double rate, int capacity) =>
        Math.Min(capacity, bucket.Tokens + time.GetElapsedTime(bucket.Updated, now).TotalSeconds * rate);

    /// <summary>
    /// Drops the buckets that have refilled to the burst: such a bucket is the same as none, so
    /// this changes no answer, and memory stays bounded by the addresses active within
    /// burst / rate seconds. At most once a second, as it walks every bucket.
    /// </summary>
    private void Sweep(long now)
    {
        var last = Interlocked.Read(ref _lastSweep);
        if (time.GetElapsedTime(last, now) < TimeSpan.FromSeconds(1) || Interlocked.CompareExchange(ref _lastSweep, now, last) != last)
        {
            return;
        }

        foreach (var (address, bucket) in _buckets)
        {
            lock (bucket)
            {
                if (Refilled(bucket, now) >= burst)
                {
                    // Removed only if still this bucket; a caller that got it just before takes
                    // from a bucket no longer listed, which at worst lets one extra lookup through.
                    _buckets.TryRemove(new KeyValuePair<IPAddress, Bucket>(address, bucket));
                }
            }
        }
    }

    private sealed class Bucket(double tokens, long updated)
    {
        public double Tokens = tokens;
        public long Updated = updated;
    }
}
