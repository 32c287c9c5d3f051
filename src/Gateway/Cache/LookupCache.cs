using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Storage;
using BedBureau.Contract.V1;
using Google.Protobuf;
using Microsoft.Extensions.Caching.Memory;

namespace BedBureau.Gateway.Cache;

/// <summary>
/// Caches patients' status lookups by hospitalization code and free-bed search results, in
/// Redis or in this process. Correctness comes before hits:
/// <list type="bullet">
/// <item>every commit of a grain deletes the cached status of each referral it changed before
/// the commit is acknowledged; a delete that fails moves every key to a new epoch, and while a
/// delete is in flight lookups of its codes bypass the cache. A lookup that read the grain
/// before a change never stores what it read (per-stripe generations, checked under the same
/// lock the invalidation takes), so no lookup after an acknowledged change sees the status
/// before it;</item>
/// <item>queue positions also move when others ahead leave; an active referral's entry is
/// served for at most <see cref="CacheOptions.PositionMaxAge"/>;</item>
/// <item>search results are keyed by a per-profile generation bumped on every commit of that
/// profile, and kept at most <see cref="CacheOptions.SearchTtl"/> (census freshness, "as of");</item>
/// <item>entries are sealed with an HMAC over key and content under a secret of this process:
/// garbage, truncated or moved entries are ignored, and keys carry this process's random
/// instance id, so a restarted gateway never trusts entries written before its crash.</item>
/// </list>
/// An entry holds the access key's SHA-256 (compared in constant time on every hit) and the
/// patient's view only: never the IIN, never the key itself.
/// <para>
/// Patients' statuses are kept in this process as parsed objects (the near cache, bounded): in
/// front of Redis, so that the hottest codes cost no round trip, or alone without Redis (no seal
/// to check then: nothing outside the process can write them). Its entries are written and
/// dropped under the same stripe lock and generation checks as Redis's, and its keys carry the
/// same epoch, so it is never staler than Redis (Redis entries are this process's own too: see
/// the instance id).
/// </para>
/// </summary>
public sealed class LookupCache : IBedGrainObserver, IAsyncDisposable
{
    private const string SchemaVersion = "v1";
    private const int StripeCount = 4096;
    private const int HeaderLength = 4 + 1 + 8 + 32;
    private const int MacLength = 32;
    private const int PayloadOffset = HeaderLength + MacLength;
    private static readonly byte[] Magic = "BBC1"u8.ToArray();
    private static readonly byte[] NoKey = new byte[32];
    private static readonly Task<bool> Gone = Task.FromResult(true);

    private readonly byte[] _secret = RandomNumberGenerator.GetBytes(32);
    private readonly string _instance = Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant();
    private readonly Stripe[] _stripes = Enumerable.Range(0, StripeCount).Select(_ => new Stripe()).ToArray();
    private readonly ConcurrentDictionary<string, StrongBox> _profileGenerations = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private ICacheStore _store;
    private MemoryCache? _near;
    private long _nearHits;
    private long _epoch;
    private long _hits;
    private long _misses;
    private long _poisoned;

    internal LookupCache(CacheOptions options, TimeProvider time, ICacheStore? store = null)
    {
        Options = options;
        _time = time;
        _store = store ?? new InProcessCacheStore(options.InProcessEntries);
        _near = _store.IsRemote ? null : NearCache(options.InProcessEntries);
    }

    private static MemoryCache NearCache(long entries) => new(new MemoryCacheOptions { SizeLimit = entries, CompactionPercentage = 0.2 });

    public CacheOptions Options { get; }

    /// <summary>"Redis" or "in-process".</summary>
    public string Kind => _store.IsRemote ? "Redis" : "in-process";

    public long Hits => Interlocked.Read(ref _hits);

    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>Hits served by the near cache (counted in <see cref="Hits"/> too).</summary>
    public long NearHits => Interlocked.Read(ref _nearHits);

    /// <summary>Entries found but rejected: garbage, truncated, tampered with or of another key.</summary>
    public long Poisoned => Interlocked.Read(ref _poisoned);

    /// <summary>Redis calls that failed or timed out; 0 without Redis.</summary>
    public long RedisErrors => (_store as RedisCacheStore)?.Errors ?? 0;

    /// <summary>Null without Redis; else whether Redis is connected and its breaker closed.</summary>
    public bool? RedisAvailable => (_store as RedisCacheStore)?.Available;

    /// <summary>Connects to Redis when one is configured (without waiting for it to be up).</summary>
    public async Task StartAsync(ILogger logger)
    {
        if (!string.IsNullOrEmpty(Options.Redis) && !_store.IsRemote)
        {
            var previous = _store;
            _store = await RedisCacheStore.ConnectAsync(Options, logger).ConfigureAwait(false);
            await previous.DisposeAsync().ConfigureAwait(false);
            var previousNear = _near;
            _near = Options.NearEntries > 0 ? NearCache(Options.NearEntries) : null;
            previousNear?.Dispose();
        }
    }

    internal string QueueKey(string code) => $"{Prefix}:q:{code}";

    private string Prefix => $"{Options.Namespace}:{SchemaVersion}:{_instance}.{Interlocked.Read(ref _epoch)}";

    // ---- Patients' lookups by code ------------------------------------------------------------

    /// <summary>
    /// The patient's status of <paramref name="code"/>: from the cache when the entry is sound,
    /// fresh enough and the access key matches it; else from <paramref name="load"/> (the grain,
    /// which checks the key itself), then cached. The status may be shared with other lookups:
    /// read it, never change it.
    /// </summary>
    internal async Task<QueueStatus> QueueStatusAsync(string code, string accessKey, Func<Task<PatientLookup>> load)
    {
        var stripe = _stripes[(uint)StringComparer.Ordinal.GetHashCode(code) % StripeCount];
        var generation = Volatile.Read(ref stripe.Generation);
        var bypass = Volatile.Read(ref stripe.Pending) > 0;
        string? key = null;
        if (!bypass)
        {
            key = QueueKey(code);
            if (_near is not null && _near.TryGetValue(key, out NearEntry? near) && near!.ExpiresAt > _time.GetUtcNow())
            {
                RequireKey(accessKey, near.AccessKeyHash);
                Interlocked.Increment(ref _hits);
                Interlocked.Increment(ref _nearHits);
                return near.Status;
            }

            if (_store.IsRemote && await _store.GetAsync(key).ConfigureAwait(false) is { } bytes
                && Open(key, bytes, EntryKind.QueueStatus, out var keyHash, out var expiresAt) is { } payload)
            {
                RequireKey(accessKey, keyHash);
                if (TryParse(QueueStatus.Parser, payload) is { } cached)
                {
                    Interlocked.Increment(ref _hits);
                    if (_near is not null)
                    {
                        lock (stripe)
                        {
                            if (stripe.Generation == generation && stripe.Pending == 0)
                            {
                                KeepNear(key, new NearEntry(cached, keyHash, expiresAt));
                            }
                        }
                    }

                    return cached;
                }

                Interlocked.Increment(ref _poisoned);
            }
        }

        Interlocked.Increment(ref _misses);
        var lookup = await load().ConfigureAwait(false);
        if (!bypass)
        {
            var ttl = lookup.Active ? Options.PositionMaxAge : Options.TerminalTtl;
            var entry = _store.IsRemote ? Seal(key!, EntryKind.QueueStatus, lookup.AccessKeyHash, ttl, lookup.Status) : null;
            lock (stripe)
            {
                // A change committed since the grain was read would make this entry stale.
                if (stripe.Generation == generation && stripe.Pending == 0)
                {
                    if (entry is not null)
                    {
                        _store.Set(key!, entry, ttl);
                    }

                    if (_near is not null)
                    {
                        KeepNear(key!, new NearEntry(lookup.Status, lookup.AccessKeyHash, _time.GetUtcNow() + ttl));
                    }
                }
            }
        }

        return lookup.Status;
    }

    private static void RequireKey(string accessKey, byte[] accessKeyHash)
    {
        if (!AccessKeys.Matches(accessKey, accessKeyHash))
        {
            throw DomainException.NotFound("REFERRAL_NOT_FOUND", "No referral with this code and access key.");
        }
    }

    private void KeepNear(string key, NearEntry entry)
    {
        // Expiry is checked against this cache's clock on each hit; the memory cache's own only evicts.
        var ttl = entry.ExpiresAt - _time.GetUtcNow();
        if (ttl > TimeSpan.Zero)
        {
            _near!.Set(key, entry, new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = ttl });
        }
    }

    /// <summary>A status kept in this process: parsed already, its key's hash, and when it stops being served.</summary>
    private sealed record NearEntry(QueueStatus Status, byte[] AccessKeyHash, DateTimeOffset ExpiresAt);

    // ---- Free-bed search -----------------------------------------------------------------------

    /// <summary>A search result for the (validated) <paramref name="profile"/> and query, from the cache or <paramref name="run"/>.</summary>
    internal async Task<SearchFreeBedsResponse> SearchAsync(string profile, DateOnly today, SearchFreeBedsRequest request, Func<SearchFreeBedsResponse> run)
    {
        // Read before searching: a commit during the search moves later lookups to a new key.
        var generation = Volatile.Read(ref _profileGenerations.GetOrAdd(profile, static _ => new StrongBox()).Value);
        var key = $"{Prefix}:s:{profile}.{generation}:{today.DayNumber}:{Convert.ToBase64String(request.ToByteArray())}";
        if (await _store.GetAsync(key).ConfigureAwait(false) is { } bytes && Open(key, bytes, EntryKind.Search, out _, out _) is { } payload)
        {
            if (TryParse(SearchFreeBedsResponse.Parser, payload) is { } cached)
            {
                Interlocked.Increment(ref _hits);
                return cached;
            }

            Interlocked.Increment(ref _poisoned);
        }

        Interlocked.Increment(ref _misses);
        var response = run();
        _store.Set(key, Seal(key, EntryKind.Search, NoKey, Options.SearchTtl, response), Options.SearchTtl);
        return response;
    }

    // ---- Invalidation --------------------------------------------------------------------------

    /// <summary>Inside the committing grain's turn, before the change is acknowledged.</summary>
    public void OnCommitted(BedGrainKey key, BedGrainChange change) =>
        OnChanged(key, change.Referrals.Select(r => r.HospitalizationCode));

    /// <summary>A grain's commit, here or on another node: its profile's searches and the changed referrals' statuses are stale.</summary>
    public void OnChanged(BedGrainKey key, IEnumerable<string> codes)
    {
        Interlocked.Increment(ref _profileGenerations.GetOrAdd(key.ProfileCode, static _ => new StrongBox()).Value);
        foreach (var code in codes)
        {
            Invalidate(code);
        }
    }

    /// <summary>Everything cached may be stale (changes made elsewhere went unheard): moves every key away from it.</summary>
    public void ForgetAll()
    {
        Interlocked.Increment(ref _epoch);
        foreach (var generation in _profileGenerations.Values)
        {
            Interlocked.Increment(ref generation.Value);
        }
    }

    private void Invalidate(string code)
    {
        var stripe = _stripes[(uint)StringComparer.Ordinal.GetHashCode(code) % StripeCount];
        Task<bool> deletion;
        lock (stripe)
        {
            stripe.Generation++;
            stripe.Pending++;
            var key = QueueKey(code);
            _near?.Remove(key);
            deletion = _store.IsRemote ? _store.DeleteAsync(key) : Gone;
        }

        if (deletion.IsCompleted)
        {
            Deleted(stripe, deletion.IsCompletedSuccessfully && deletion.Result);
        }
        else
        {
            _ = deletion.ContinueWith((t, s) => Deleted((Stripe)s!, t.IsCompletedSuccessfully && t.Result), stripe, CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private void Deleted(Stripe stripe, bool deleted)
    {
        // An entry that could not be deleted may still be there: move every key away from it
        // before lookups of this stripe may read the cache again.
        if (!deleted)
        {
            Interlocked.Increment(ref _epoch);
        }

        lock (stripe)
        {
            stripe.Pending--;
        }
    }

    // ---- Entries -------------------------------------------------------------------------------

    /// <summary>magic "BBC1" | kind | expires (unix ms) | access key SHA-256 | HMAC-SHA256(key, all before) | payload.</summary>
    private byte[] Seal(string key, EntryKind kind, byte[] accessKeyHash, TimeSpan ttl, IMessage payload)
    {
        var size = payload.CalculateSize();
        var entry = new byte[PayloadOffset + size];
        Magic.CopyTo(entry, 0);
        entry[4] = (byte)kind;
        BinaryPrimitives.WriteInt64LittleEndian(entry.AsSpan(5), (_time.GetUtcNow() + ttl).ToUnixTimeMilliseconds());
        accessKeyHash.AsSpan(0, 32).CopyTo(entry.AsSpan(13));
        payload.WriteTo(entry.AsSpan(PayloadOffset));
        Mac(key, entry, entry.AsSpan(HeaderLength, MacLength));
        return entry;
    }

    /// <summary>The payload of a sound, unexpired entry of <paramref name="kind"/> for <paramref name="key"/>; null otherwise.</summary>
    private ReadOnlyMemory<byte>? Open(string key, byte[] entry, EntryKind kind, out byte[] accessKeyHash, out DateTimeOffset expiresAt)
    {
        accessKeyHash = NoKey;
        expiresAt = default;
        Span<byte> mac = stackalloc byte[MacLength];
        if (entry.Length < PayloadOffset || !entry.AsSpan(0, 4).SequenceEqual(Magic) || entry[4] != (byte)kind)
        {
            Interlocked.Increment(ref _poisoned);
            return null;
        }

        Mac(key, entry, mac);
        if (!CryptographicOperations.FixedTimeEquals(mac, entry.AsSpan(HeaderLength, MacLength)))
        {
            Interlocked.Increment(ref _poisoned);
            return null;
        }

        expiresAt = DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64LittleEndian(entry.AsSpan(5)));
        if (expiresAt <= _time.GetUtcNow())
        {
            return null;
        }

        accessKeyHash = entry.AsSpan(13, 32).ToArray();
        return entry.AsMemory(PayloadOffset);
    }

    private void Mac(string key, byte[] entry, Span<byte> destination)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _secret);
        hmac.AppendData(Encoding.UTF8.GetBytes(key));
        hmac.AppendData(entry.AsSpan(0, HeaderLength));
        hmac.AppendData(entry.AsSpan(PayloadOffset));
        hmac.GetHashAndReset(destination);
    }

    private static T? TryParse<T>(MessageParser<T> parser, ReadOnlyMemory<byte>? payload)
        where T : class, IMessage<T>
    {
        try
        {
            return parser.ParseFrom(payload!.Value.Span);
        }
        catch (InvalidProtocolBufferException)
        {
            return null;
        }
    }

    public ValueTask DisposeAsync()
    {
        _near?.Dispose();
        return _store.DisposeAsync();
    }

    private enum EntryKind : byte
    {
        QueueStatus = 1,
        Search = 2,
    }

    private sealed class Stripe
    {
        public long Generation;
        public int Pending;
    }

    private sealed class StrongBox
    {
        public long Value;
    }
}

/// <summary>What a lookup read from the grain: the patient's view, the key's hash, and whether its position can still move.</summary>
internal readonly record struct PatientLookup(QueueStatus Status, byte[] AccessKeyHash, bool Active);
