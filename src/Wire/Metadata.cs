using System.Collections;
using System.Text;

namespace BedBureau.Wire;

/// <summary>
/// Custom metadata of a call: ASCII values, or binary values under keys ending in "-bin"
/// (PROTOCOL-HTTP2.md: base64 on the wire).
/// </summary>
public sealed class Metadata : IEnumerable<Metadata.Entry>
{
    public const string BinarySuffix = "-bin";

    private readonly List<Entry> _entries = [];

    public int Count => _entries.Count;

    public void Add(string key, string value) => _entries.Add(new Entry(NormalizeKey(key), value, null));

    public void Add(string key, byte[] value)
    {
        key = NormalizeKey(key);
        if (!IsBinaryKey(key))
        {
            throw new ArgumentException($"Binary metadata key must end in {BinarySuffix}.", nameof(key));
        }

        _entries.Add(new Entry(key, null, value));
    }

    public Entry? Get(string key)
    {
        for (var i = _entries.Count - 1; i >= 0; i--)
        {
            if (string.Equals(_entries[i].Key, key, StringComparison.OrdinalIgnoreCase))
            {
                return _entries[i];
            }
        }

        return null;
    }

    public string? GetValue(string key) => Get(key)?.Value;

    public IEnumerator<Entry> GetEnumerator() => _entries.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public static bool IsBinaryKey(string key) => key.EndsWith(BinarySuffix, StringComparison.OrdinalIgnoreCase);

    private static string NormalizeKey(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        if (!IsValidKey(key))
        {
            throw new ArgumentException($"Metadata key '{key}' has a character not allowed in a header name.", nameof(key));
        }

        return key.ToLowerInvariant();
    }

    /// <summary>Whether <paramref name="key"/> is a metadata key (any letter case).</summary>
    public static bool IsValidKey(string key)
    {
        if (key.Length == 0)
        {
            return false;
        }

        foreach (var c in key)
        {
            // PROTOCOL-HTTP2.md: Header-Name → 1*( %x30-39 / %x61-7A / "_" / "-" / ".") ; 0-9 a-z _ - .
            if (!(c is >= '0' and <= '9' or >= 'a' and <= 'z' or >= 'A' and <= 'Z' or '_' or '-' or '.'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>One key with its ASCII or binary value.</summary>
    public sealed record Entry(string Key, string? Value, byte[]? BinaryValue)
    {
        public bool IsBinary => BinaryValue is not null;

        /// <summary>The value as it goes on the wire (binary values base64, unpadded).</summary>
        public string WireValue => BinaryValue is { } bytes ? Convert.ToBase64String(bytes).TrimEnd('=') : Value!;

        public override string ToString() => IsBinary ? $"{Key}: {Convert.ToHexString(BinaryValue!)}" : $"{Key}: {Value}";
    }

    /// <summary>Decodes a -bin value; senders may pad or not (PROTOCOL-HTTP2.md).</summary>
    public static bool TryDecodeBinary(string wireValue, out byte[] value)
    {
        var padded = wireValue.Trim();
        switch (padded.Length % 4)
        {
            case 2:
                padded += "==";
                break;
            case 3:
                padded += "=";
                break;
            case 1:
                value = [];
                return false;
        }

        var buffer = new byte[padded.Length / 4 * 3];
        if (Convert.TryFromBase64String(padded, buffer, out var written))
        {
            value = buffer[..written];
            return true;
        }

        value = [];
        return false;
    }

    public override string ToString()
    {
        var text = new StringBuilder();
        foreach (var entry in _entries)
        {
            text.Append(entry).Append('\n');
        }

        return text.ToString();
    }
}
