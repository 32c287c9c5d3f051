using System.Text;
using System.Text.Json;
using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Storage;
using Npgsql;

namespace BedBureau.Gateway.Storage;

/// <summary>One grain's commit as other nodes hear of it: its new version and the referrals it changed.</summary>
public sealed record GrainChangeNotice(string HospitalId, string ProfileCode, long Version, string[] Codes)
{
    public BedGrainKey Key => new(HospitalId, ProfileCode);
}

/// <summary>
/// The notifications by which nodes sharing one PostgreSQL tell each other which grains they
/// committed: sent with <c>pg_notify</c> inside the commit's own transaction (so delivered only
/// if it commits, and after), heard by <see cref="NodeCoherence"/>. A payload is the sending
/// node's id, a tab, then the notices as JSON, under PostgreSQL's 8,000-byte limit.
/// </summary>
public static class GrainChangeNotices
{
    public const string Channel = "bedbureau_grains";

    private const int MaxPayloadBytes = 7_900;

    /// <summary>The statement that notifies the batch's committed grains, as few payloads as fit; null when none committed.</summary>
    public static NpgsqlBatchCommand? Command(string node, IEnumerable<(BedGrainKey Key, BedGrainChange Change)> committed)
    {
        var payloads = Payloads(node, committed.Select(c => new GrainChangeNotice(c.Key.HospitalId, c.Key.ProfileCode, c.Change.Version,
            c.Change.Referrals.Select(r => r.HospitalizationCode).Distinct().ToArray()))).ToArray();
        if (payloads.Length == 0)
        {
            return null;
        }

        var command = new NpgsqlBatchCommand($"SELECT pg_notify('{Channel}', p) FROM unnest($1::text[]) AS p");
        command.Parameters.Add(new NpgsqlParameter { Value = payloads });
        return command;
    }

    internal static IEnumerable<string> Payloads(string node, IEnumerable<GrainChangeNotice> notices)
    {
        var items = new List<string>();
        var size = 0;
        foreach (var notice in notices)
        {
            var item = JsonSerializer.Serialize(notice);
            var bytes = Encoding.UTF8.GetByteCount(item) + 1;
            if (items.Count > 0 && size + bytes > MaxPayloadBytes - node.Length - 3)
            {
                yield return Payload(node, items);
                items.Clear();
                size = 0;
            }

            items.Add(item);
            size += bytes;
        }

        if (items.Count > 0)
        {
            yield return Payload(node, items);
        }
    }

    private static string Payload(string node, List<string> items) => $"{node}\t[{string.Join(',', items)}]";

    /// <summary>The sending node and its notices; null for a payload that is not one of ours.</summary>
    public static (string Node, GrainChangeNotice[] Notices)? Parse(string payload)
    {
        var tab = payload.IndexOf('\t', StringComparison.Ordinal);
        if (tab <= 0)
        {
            return null;
        }

        try
        {
            var notices = JsonSerializer.Deserialize<GrainChangeNotice[]>(payload.AsSpan(tab + 1));
            return notices is null || notices.Any(n => n is null || n.HospitalId is null || n.ProfileCode is null || n.Codes is null) ? null : (payload[..tab], notices);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
