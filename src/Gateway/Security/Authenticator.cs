using System.Collections.Concurrent;
using System.Security.Cryptography;
using BedBureau.Wire;

namespace BedBureau.Gateway.Security;

/// <summary>
/// Finds the organisation behind "authorization: Bearer &lt;key&gt;". Verified keys are
/// remembered for a short while so the hot path does no storage read; a revocation takes effect
/// within <see cref="CacheFor"/> on every node, at once on the node that revoked.
/// </summary>
public sealed class Authenticator(IOrganizationStore store, TimeProvider time)
{
    public static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, (Caller Caller, byte[] Digest, DateTimeOffset Until)> _verified = new(StringComparer.Ordinal);

    /// <summary>The caller, or UNAUTHENTICATED when the key is missing, malformed, unknown or revoked.</summary>
    public async ValueTask<Caller> AuthenticateAsync(string? authorization, CancellationToken cancellationToken)
    {
        const string scheme = "Bearer ";
        if (authorization is null || !authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) ||
            !ApiKey.TryParse(authorization[scheme.Length..].Trim(), out var key))
        {
            throw new RpcException(StatusCode.Unauthenticated, "Missing or malformed API key: send 'authorization: Bearer <key>'.");
        }

        var now = time.GetUtcNow();
        var digest = SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key.Secret));
        if (_verified.TryGetValue(key.KeyId, out var cached) && cached.Until > now && CryptographicOperations.FixedTimeEquals(cached.Digest, digest))
        {
            return cached.Caller;
        }

        var record = await store.FindKeyAsync(key.KeyId, cancellationToken).ConfigureAwait(false);
        if (record is null || record.RevokedAt is not null || !key.Matches(record.Salt, record.Hash))
        {
            throw new RpcException(StatusCode.Unauthenticated, "Unknown or revoked API key.");
        }

        var organization = await store.FindOrganizationAsync(record.OrganizationId, cancellationToken).ConfigureAwait(false)
            ?? throw new RpcException(StatusCode.Unauthenticated, "Unknown or revoked API key.");
        var caller = new Caller(organization.Id, organization.Kind);
        _verified[key.KeyId] = (caller, digest, now + CacheFor);
        return caller;
    }

    /// <summary>Forgets a key at once on this node (after a revocation).</summary>
    public void Forget(string keyId) => _verified.TryRemove(keyId, out _);
}
