using System.Security.Cryptography;

namespace BedBureau.BedGrain.Domain;

/// <summary>
/// The bureau's structured code "&lt;patient region&gt;.&lt;hospital&gt;.&lt;profile&gt;.&lt;sequence&gt;",
/// e.g. 61.01W9.321.72S: the sequence counts per (hospital, profile) in base 36, so a code is
/// unique and never reused, and names the grain that holds it.
/// </summary>
public static class HospitalizationCodes
{
    private const string Base36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

    private static readonly System.Buffers.SearchValues<char> CodeCharacters =
        System.Buffers.SearchValues.Create("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    public static string Format(string patientRegionCode, BedGrainKey grain, long sequence) =>
        $"{patientRegionCode}.{grain.HospitalId}.{grain.ProfileCode}.{ToBase36(sequence)}";

    /// <summary>The grain holding the code, or false when the code is malformed.</summary>
    public static bool TryParse(string? code, out BedGrainKey grain)
    {
        grain = default;
        if (string.IsNullOrEmpty(code) || code.Length > 80)
        {
            return false;
        }

        // Four non-empty parts of ASCII letters and digits, split by dots.
        var span = code.AsSpan();
        Span<Range> parts = stackalloc Range[5];
        if (span.Split(parts, '.') != 4)
        {
            return false;
        }

        foreach (var part in parts[..4])
        {
            var text = span[part];
            if (text.IsEmpty || text.ContainsAnyExcept(CodeCharacters))
            {
                return false;
            }
        }

        grain = new BedGrainKey(code[parts[1]], code[parts[2]]);
        return true;
    }

    public static BedGrainKey Parse(string? code, string field = "hospitalization_code") =>
        TryParse(code, out var grain) ? grain : throw DomainException.Invalid(field, "INVALID_CODE", "must look like 61.01W9.321.72S");

    private static string ToBase36(long value)
    {
        Span<char> digits = stackalloc char[14];
        var position = digits.Length;
        do
        {
            digits[--position] = Base36[(int)(value % 36)];
            value /= 36;
        }
        while (value > 0);

        return new string(digits[position..]);
    }
}

/// <summary>
/// The access key printed on the patient's coupon: 50 random bits as 10 Crockford base-32
/// characters in two groups, e.g. "K7Q4M-9XD2F" (no I, L, O, U: easy to read aloud).
/// </summary>
public static class AccessKeys
{
    private const string Crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    public static string Generate()
    {
        // 50 bits: 10 characters of 5 bits each.
        var bits = NextRandom();
        Span<char> key = stackalloc char[11];
        var position = 0;
        for (var i = 0; i < 10; i++)
        {
            if (i == 5)
            {
                key[position++] = '-';
            }

            key[position++] = Crockford[(int)(bits & 31)];
            bits >>= 5;
        }

        return new string(key);
    }

    [ThreadStatic]
    private static byte[]? t_random;

    [ThreadStatic]
    private static int t_used;

    /// <summary>
    /// 64 bits from the OS CSPRNG, fetched 4 KB at a time: one system call per 512 keys
    /// instead of one per key (it costs microseconds here).
    /// </summary>
    private static ulong NextRandom()
    {
        if (t_random is null || t_used + 8 > t_random.Length)
        {
            t_random ??= new byte[4096];
            RandomNumberGenerator.Fill(t_random);
            t_used = 0;
        }

        var value = BitConverter.ToUInt64(t_random, t_used);
        t_random.AsSpan(t_used, 8).Clear();
        t_used += 8;
        return value;
    }

    /// <summary>Upper case, without separators and spaces, with the look-alikes O→0, I/L→1 read as Crockford does.</summary>
    public static string Normalize(string? key)
    {
        Span<byte> buffer = stackalloc byte[MaxKeyLength];
        var length = Normalize(key, buffer);
        return System.Text.Encoding.ASCII.GetString(buffer[..length]);
    }

    public static byte[] Hash(string key)
    {
        Span<byte> buffer = stackalloc byte[MaxKeyLength];
        return SHA256.HashData(buffer[..Normalize(key, buffer)]);
    }

    /// <summary>Compares in constant time; the key given is hashed on the stack.</summary>
    public static bool Matches(string? key, ReadOnlySpan<byte> hash)
    {
        if (key is null)
        {
            return false;
        }

        Span<byte> buffer = stackalloc byte[MaxKeyLength];
        Span<byte> computed = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(buffer[..Normalize(key, buffer)], computed);
        return CryptographicOperations.FixedTimeEquals(computed, hash);
    }

    private const int MaxKeyLength = 64;

    private static int Normalize(string? key, Span<byte> buffer)
    {
        var length = 0;
        foreach (var c in (key ?? "").AsSpan(0, Math.Min(key?.Length ?? 0, MaxKeyLength)))
        {
            var upper = char.ToUpperInvariant(c);
            if (upper is '-' or ' ')
            {
                continue;
            }

            // Non-ASCII input cannot match a key; '?' keeps the length (and the timing) honest.
            buffer[length++] = upper switch { 'O' => (byte)'0', 'I' or 'L' => (byte)'1', < (char)128 => (byte)upper, _ => (byte)'?' };
        }

        return length;
    }
}
