using System.Security.Cryptography;
using System.Text;

namespace BedBureau.Gateway.Security;

/// <summary>
/// Protects patients' IINs (Law 94-V: special personal data): a keyed hash to find a patient's
/// referrals without the IIN, and AES-GCM encryption to give it back to the referring polyclinic
/// and the receiving hospital. Both keys derive from one configured secret.
/// </summary>
public sealed class PersonalDataProtector : BedBureau.BedGrain.Domain.IPersonalDataProtector
{
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private readonly byte[] _hashKey;
    private readonly byte[] _encryptionKey;

    // One keyed cipher and one keyed HMAC per thread (neither is thread-safe): set up afresh for
    // every call they cost more than the encryption itself (OpenSSL looks the algorithm up each
    // time), and a registration protects two values and hashes one.
    private readonly ThreadLocal<AesGcm> _aes;
    private readonly ThreadLocal<IncrementalHash> _hmac;

    public PersonalDataProtector(string secret)
    {
        if (string.IsNullOrEmpty(secret) || secret.Length < 16)
        {
            throw new ArgumentException("The personal-data secret must have at least 16 characters.", nameof(secret));
        }

        var master = Encoding.UTF8.GetBytes(secret);
        _hashKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, master, 32, info: "bedbureau iin hash v1"u8.ToArray());
        _encryptionKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, master, 32, info: "bedbureau iin encryption v1"u8.ToArray());
        _aes = new ThreadLocal<AesGcm>(() => new AesGcm(_encryptionKey, TagSize));
        _hmac = new ThreadLocal<IncrementalHash>(() => IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _hashKey));
    }

    /// <summary>The same for the same value; reveals nothing without the secret.</summary>
    public string Hash(string value)
    {
        var hmac = _hmac.Value!;
        hmac.AppendData(Encoding.UTF8.GetBytes(value));
        return Convert.ToHexStringLower(hmac.GetHashAndReset());
    }

    public string Protect(string value)
    {
        var plain = Encoding.UTF8.GetBytes(value);
        var output = new byte[NonceSize + plain.Length + TagSize];
        var nonce = output.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        _aes.Value!.Encrypt(nonce, plain, output.AsSpan(NonceSize, plain.Length), output.AsSpan(NonceSize + plain.Length));
        return Convert.ToBase64String(output);
    }

    public string Unprotect(string protectedValue)
    {
        var input = Convert.FromBase64String(protectedValue);
        var plain = new byte[input.Length - NonceSize - TagSize];
        _aes.Value!.Decrypt(input.AsSpan(0, NonceSize), input.AsSpan(NonceSize, plain.Length), input.AsSpan(NonceSize + plain.Length), plain);
        return Encoding.UTF8.GetString(plain);
    }
}
