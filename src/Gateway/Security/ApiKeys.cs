using System.Security.Cryptography;

namespace BedBureau.Gateway.Security;

/// <summary>Issuing and revoking organisations' API keys (the admin command line and the sample use it).</summary>
public static class ApiKeys
{
    /// <summary>Creates a key for the organisation; only its salted hash is stored. The key is shown once.</summary>
    public static async Task<ApiKey> IssueAsync(IOrganizationStore store, string organizationId, TimeProvider time, CancellationToken cancellationToken)
    {
        var key = ApiKey.Generate();
        var salt = RandomNumberGenerator.GetBytes(16);
        await store.SaveKeyAsync(new ApiKeyRecord(key.KeyId, organizationId, salt, key.Hash(salt), time.GetUtcNow(), null), cancellationToken).ConfigureAwait(false);
        return key;
    }
}
