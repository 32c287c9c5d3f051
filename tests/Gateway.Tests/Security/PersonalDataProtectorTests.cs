using System.Security.Cryptography;
using System.Text;
using BedBureau.Gateway.Security;

namespace BedBureau.Gateway.Tests.Security;

/// <summary>The protector keeps a cipher and an HMAC per thread: each call must still stand alone.</summary>
public sealed class PersonalDataProtectorTests
{
    private const string Secret = "personal-data-test-secret";

    [Fact]
    public async Task A_hash_is_the_keyed_hmac_of_the_value_alone_whatever_was_hashed_before_and_on_whichever_thread()
    {
        var protector = new PersonalDataProtector(Secret);
        var key = HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(Secret), 32, info: "bedbureau iin hash v1"u8.ToArray());
        string Expected(string iin) => Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(iin)));

        Assert.Equal(Expected("900101300123"), protector.Hash("900101300123"));
        Assert.Equal(Expected("850615400456"), protector.Hash("850615400456"));
        Assert.Equal(Expected("900101300123"), protector.Hash("900101300123"));
        var hashes = await Task.WhenAll(Enumerable.Range(0, 64).Select(i => Task.Run(() => protector.Hash($"9001013{i:D5}"))));
        Assert.Equal(Enumerable.Range(0, 64).Select(i => Expected($"9001013{i:D5}")), hashes);
    }

    [Fact]
    public async Task What_one_thread_protects_another_thread_and_another_instance_with_the_same_secret_read_back()
    {
        var protector = new PersonalDataProtector(Secret);
        var values = Enumerable.Range(0, 64).Select(i => $"8506154{i:D5}").ToArray();

        var sealedValues = await Task.WhenAll(values.Select(v => Task.Run(() => protector.Protect(v))));
        var read = await Task.WhenAll(sealedValues.Reverse().Select(s => Task.Run(() => new PersonalDataProtector(Secret).Unprotect(s))));

        Assert.Equal(values.Reverse(), read);
        Assert.Equal(values.Length, sealedValues.Distinct().Count()); // a fresh nonce each time
        Assert.ThrowsAny<CryptographicException>(() => new PersonalDataProtector("another-secret-of-16+").Unprotect(sealedValues[0]));
    }
}
