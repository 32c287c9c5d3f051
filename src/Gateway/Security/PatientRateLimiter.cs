using System.Collections.Concurrent;
using System.Net;
using BedBureau.GrpcServer;
using BedBureau.Wire;

namespace BedBureau.Gateway.Security;

/// <summary>
/// Patients' lookups per client address: a token bucket (burst, then a steady rate), so guessing
/// access keys is hopeless: at 1 lookup/s an address gets 3,600 guesses an hour against 2^50 keys.
/// Past the limit: RESOURCE_EXHAUSTED with "retry-after" (seconds) in the trailers.
/// </summary>
public sealed class PatientRateLimiter(TimeProvider time, double perSecond = 1.0, int burst = 30)
{
    private readonly ConcurrentDictionary<IPAddress, Bucket> _buckets = new();

    public void Take(ServerCallContext context)
    {
        var address = context.HttpContext.Connection.RemoteIpAddress ?? IPAddress.None;
        var bucket = _buckets.GetOrAdd(address, _ => new Bucket(burst, time.GetTimestamp()));
        lock (bucket)
        {
            var now = time.GetTimestamp();
            bucket.Tokens = Math.Min(burst, bucket.Tokens + time.GetElapsedTime(bucket.Updated, now).TotalSeconds * perSecond);
            bucket.Updated = now;
            if (bucket.Tokens >= 1)
            {
                bucket.Tokens -= 1;
                return;
            }

            var wait = Math.Ceiling((1 - bucket.Tokens) / perSecond);
            context.ResponseTrailers.Add("retry-after", wait.ToString(System.Globalization.CultureInfo.InvariantCulture));
            throw new RpcException(StatusCode.ResourceExhausted, $"[RATE_LIMITED] Too many lookups from this address; retry after {wait} s.");
        }
    }

    private sealed class Bucket(double tokens, long updated)
    {
        public double Tokens = tokens;
        public long Updated = updated;
    }
}
