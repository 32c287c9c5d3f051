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
/// </summary>
public sealed class PatientRateLimiter(TimeProvider time, double perSecond = 1.0, int burst = 30, int trackedAddresses = 100_000)
{
    private readonly ConcurrentDictionary<IPAddress, Bucket> _buckets = new();
    private long _lastSweep;

    /// <summary>Addresses with a bucket now (for tests: buckets refilled to the burst are dropped).</summary>
    internal int TrackedAddresses => _buckets.Count;

    public void Take(ServerCallContext context)
    {
        if (TryTake(context.HttpContext.Connection.RemoteIpAddress ?? IPAddress.None) is { } wait)
        {
            context.ResponseTrailers.Add("retry-after", wait.ToString(System.Globalization.CultureInfo.InvariantCulture));
            throw new RpcException(StatusCode.ResourceExhausted, $"[RATE_LIMITED] Too many lookups from this address; retry after {wait} s.");
        }
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

    private double Refilled(Bucket bucket, long now) =>
        Math.Min(burst, bucket.Tokens + time.GetElapsedTime(bucket.Updated, now).TotalSeconds * perSecond);

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
