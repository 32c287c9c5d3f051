namespace BedBureau.Gateway.ReferenceData;

/// <summary>One of the 20 regions (17 oblasts and 3 cities), by KATO code.</summary>
public sealed record RegionInfo(string Code, string NameKk, string NameRu, string NameEn);

/// <summary>A bed-profile code; adult and child profiles are separate codes.</summary>
public sealed record BedProfileInfo(string Code, bool IsChild, string NameKk, string NameRu, string NameEn);

/// <summary>Kazakhstan's regions and the bureau's bed profiles, from the CSV files beside this one.</summary>
public static class ReferenceCatalog
{
    public static IReadOnlyList<RegionInfo> Regions { get; } =
        ReadCsv("regions.csv").Select(f => new RegionInfo(f[0], f[1], f[2], f[3])).ToArray();

    public static IReadOnlyList<BedProfileInfo> BedProfiles { get; } =
        ReadCsv("bed-profiles.csv").Select(f => new BedProfileInfo(f[0], f[1] == "CHILD", f[2], f[3], f[4])).ToArray();

    private static IEnumerable<string[]> ReadCsv(string name)
    {
        using var stream = typeof(ReferenceCatalog).Assembly.GetManifestResourceStream($"BedBureau.Gateway.ReferenceData.{name}")
            ?? throw new InvalidOperationException($"Reference data {name} is not embedded.");
        using var reader = new StreamReader(stream);
        var rows = new List<string[]>();
        reader.ReadLine(); // header
        while (reader.ReadLine() is { Length: > 0 } line)
        {
            rows.Add(line.Split(','));
        }

        return rows;
    }
}
