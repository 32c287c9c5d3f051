using System.Security.Cryptography;
using System.Text;

namespace BedBureau.Gateway.Security;

/// <summary>
/// An organisation's API key, "bbk_{id}_{secret}": the id finds the stored record, the secret
/// (256 random bits) is checked against a salted hash. The key itself is never stored.
/// </summary>
public readonly record struct ApiKey(string KeyId, string Secret)
{
    private const string Prefix = "bbk_";

    public override string ToString() => $"{Prefix}{KeyId}_{Secret}";

    public static ApiKey Generate()
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var secret = Base64Url(RandomNumberGenerator.GetBytes(32));
        return new ApiKey(id, secret);
    }

    public static bool TryParse(string? text, out ApiKey key)
    {
        key = default;
        if (text is null || !text.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        var separator = text.IndexOf('_', Prefix.Length);
        if (separator < 0 || separator == Prefix.Length || separator == text.Length - 1 || text.Length > 200)
        {
            return false;
        }

        key = new ApiKey(text[Prefix.Length..separator], text[(separator + 1)..]);
        return true;
    }

    /// <summary>The salted hash stored for this key (HMAC-SHA256 keyed by the salt).</summary>
    public byte[] Hash(byte[] salt) => HMACSHA256.HashData(salt, Encoding.UTF8.GetBytes(Secret));

    public bool Matches(byte[] salt, byte[] storedHash) => CryptographicOperations.FixedTimeEquals(Hash(salt), storedHash);

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
