using BedBureau.Gateway.ReferenceData;

namespace BedBureau.Gateway.Sample;

/// <summary>A hospital's beds of one profile and its admission slots per day.</summary>
public sealed record ProfileBeds(string ProfileCode, int Total, int Occupied, int SlotsPerDay);

public sealed record HospitalSample(string Id, string Bin, string Name, string RegionCode, string Locality, IReadOnlyList<ProfileBeds> Profiles);

/// <summary>A polyclinic (primary care), which registers its attached patients' referrals: id PC-&lt;region&gt;-&lt;nnn&gt;, numbered per region from 001.</summary>
public sealed record PolyclinicSample(string Id, string Bin, string Name, string RegionCode);

/// <summary>An active referral, registered by a polyclinic of the patient's region.</summary>
public sealed record ReferralSample(string HospitalId, string ProfileCode, string PatientIin, string PatientRegionCode, string PolyclinicId, string Icd10Code, DateOnly PlannedDate, bool Surgical);

/// <summary>
/// A seeded, reproducible national picture: the 20 regions, ~1,400 hospitals with BINs and their
/// adult and child profiles (~106,000 beds), 30-day admission calendars, ~700 polyclinics and
/// active referrals that fit the calendars, each from a polyclinic of the patient's region. The
/// embedded default's sample and the benchmarks use it.
/// </summary>
public sealed class NationalDataset
{
    // Share of hospitals and polyclinics per region, roughly by population (KATO code, weight), and
    // the city whose polyclinics are "city polyclinics" (for an oblast, its administrative centre).
    private static readonly (string Region, int Weight, string City)[] RegionWeights =
    [
        ("10", 4, "Semey"), ("11", 4, "Kokshetau"), ("15", 5, "Aktobe"), ("19", 8, "Konaev"), ("23", 4, "Atyrau"),
        ("27", 4, "Oral"), ("31", 6, "Taraz"), ("33", 4, "Taldykorgan"), ("35", 7, "Karaganda"), ("39", 5, "Kostanay"),
        ("43", 5, "Kyzylorda"), ("47", 4, "Aktau"), ("55", 4, "Pavlodar"), ("59", 3, "Petropavl"), ("61", 11, "Turkistan"),
        ("62", 1, "Zhezkazgan"), ("63", 4, "Oskemen"), ("71", 7, "Astana"), ("75", 11, "Almaty"), ("79", 7, "Shymkent"),
    ];

    /// <summary>Diagnoses (ICD-10) a referral to each bed profile plausibly carries; the load test draws from them too.</summary>
    public static readonly IReadOnlyDictionary<string, string[]> Icd10ByProfile = new Dictionary<string, string[]>
    {
        ["101"] = ["I20.8", "I25.1", "I11.9", "I48.0", "I50.0"],
        ["102"] = ["I35.0", "I34.0", "I25.1", "Q21.1"],
        ["103"] = ["G40.9", "I63.5", "G35", "M51.1", "G20"],
        ["104"] = ["D33.0", "M48.0", "G91.1"],
        ["105"] = ["K80.2", "K40.9", "K35.8", "K43.9"],
        ["106"] = ["S72.00", "S82.2", "T92.1"],
        ["107"] = ["M16.1", "M17.1", "M75.1"],
        ["108"] = ["N20.0", "N40", "N13.2"],
        ["109"] = ["D25.9", "N83.2", "N81.2"],
        ["110"] = ["J44.1", "I11.9", "E11.9"],
        ["111"] = ["K25.7", "K74.6", "K51.9"],
        ["112"] = ["J44.1", "J45.0", "J18.9"],
        ["113"] = ["E11.9", "E10.9", "E05.0"],
        ["114"] = ["N18.5", "N03.9"],
        ["115"] = ["M05.8", "M32.1"],
        ["116"] = ["D50.0", "C91.1", "D69.3"],
        ["117"] = ["C50.9", "C34.1", "C18.7", "C61"],
        ["118"] = ["H25.9", "H40.1", "H33.0"],
        ["119"] = ["J32.0", "J35.0", "H66.1"],
        ["201"] = ["Q21.0", "I42.0"],
        ["203"] = ["G40.3", "G80.1"],
        ["205"] = ["K35.8", "K40.9", "Q53.1"],
        ["209"] = ["J18.9", "J20.9", "A09"],
        ["220"] = ["P07.3", "P59.9"],
        ["120"] = ["L40.0", "L20.8", "L10.0"],
        ["121"] = ["K07.1", "S02.6", "K10.2"],
        ["122"] = ["I70.2", "I83.9", "I71.4", "I65.2"],
        ["123"] = ["J86.9", "J93.1", "J98.4", "D14.3"],
        ["124"] = ["K60.3", "K64.1", "K62.1", "K57.3"],
        ["125"] = ["I69.3", "Z96.6", "G82.1"],
        ["126"] = ["C16.9", "C25.9", "C34.9", "G12.2"],
        ["127"] = ["B18.2", "B18.1", "A69.2"],
        ["128"] = ["J45.0", "T78.3", "L50.0", "J30.1"],
        ["129"] = ["T95.8", "L90.5", "T21.2"],
        ["130"] = ["F10.3", "T56.0", "T42.4"],
        ["202"] = ["Q21.0", "Q21.1", "Q25.0", "Q22.1"],
        ["204"] = ["G91.0", "Q05.4", "D33.1", "Q03.9"],
        ["206"] = ["S52.5", "S42.4", "S82.1"],
        ["207"] = ["Q65.1", "Q66.0", "M41.1", "M91.1"],
        ["208"] = ["Q53.1", "Q62.1", "N13.7", "Q54.0"],
        ["210"] = ["K50.9", "K51.9", "K21.0", "K29.5"],
        ["211"] = ["J45.0", "E84.0", "J47", "J18.9"],
        ["212"] = ["E10.9", "E23.0", "E34.3", "E03.1"],
        ["213"] = ["N04.0", "N11.9", "N39.0", "N00.9"],
        ["214"] = ["D61.9", "D69.3", "D66", "D56.1"],
        ["215"] = ["C91.0", "C92.0", "C71.9", "C64", "C40.2"],
        ["216"] = ["H50.0", "H26.0", "H52.1", "Q12.0"],
        ["217"] = ["J35.3", "H65.3", "J34.2", "J35.2"],
        ["218"] = ["G80.1", "G80.0", "G80.3"],
        ["219"] = ["B18.1", "B27.9", "A08.0"],
    };

    private const int BedsSpread = 27;

    private static readonly string[] Kinds = ["city hospital", "regional hospital", "district hospital", "multi-profile hospital", "clinical centre"];

    private NationalDataset(IReadOnlyList<HospitalSample> hospitals, IReadOnlyList<PolyclinicSample> polyclinics, IReadOnlyList<ReferralSample> referrals)
    {
        Hospitals = hospitals;
        Polyclinics = polyclinics;
        Referrals = referrals;
    }

    public IReadOnlyList<RegionInfo> Regions => ReferenceCatalog.Regions;

    public IReadOnlyList<BedProfileInfo> BedProfiles => ReferenceCatalog.BedProfiles;

    public IReadOnlyList<HospitalSample> Hospitals { get; }

    public IReadOnlyList<PolyclinicSample> Polyclinics { get; }

    public IReadOnlyList<ReferralSample> Referrals { get; }

    public int TotalBeds => Hospitals.Sum(h => h.Profiles.Sum(p => p.Total));

    /// <summary>Generates the dataset; the same seed and sizes always give the same data.</summary>
    /// <param name="today">First day of the 30-day calendars; referrals are planned inside them.</param>
    /// <param name="hospitalCount">Hospital codes; the polyclinics are half as many (Kazakhstan: ~1,400 and ~700), at least two a region.</param>
    public static NationalDataset Generate(int seed, DateOnly today, int hospitalCount = 1400, int referralCount = 300_000)
    {
        var random = new Random(seed);
        var adult = ReferenceCatalog.BedProfiles.Where(p => !p.IsChild).ToArray();
        var child = ReferenceCatalog.BedProfiles.Where(p => p.IsChild).ToArray();
        var hospitals = new List<HospitalSample>(hospitalCount);
        var usedIds = new HashSet<string>();
        var usedBins = new HashSet<string>();
        var totalWeight = RegionWeights.Sum(r => r.Weight);
        for (var i = 0; i < hospitalCount; i++)
        {
            var region = PickRegion(random, totalWeight);
            string id;
            do
            {
                id = $"{random.Next(100):D2}{Alphanumeric(random)}{Alphanumeric(random)}";
            }
            while (!usedIds.Add(id));

            // About one hospital in ten is a children's hospital (child profiles only); the others
            // are adult hospitals, a third of them with a paediatric ward or two. Adult and child
            // beds are separate profiles, never summed.
            var childrens = random.Next(10) == 0;
            var profileCount = 1 + (int)(random.NextDouble() * random.NextDouble() * 10);
            var candidates = childrens ? child : adult.OrderBy(_ => random.Next()).Take(profileCount)
                .Concat(random.Next(3) == 0 ? child.OrderBy(_ => random.Next()).Take(1 + random.Next(2)) : []);
            var chosen = new List<ProfileBeds>(profileCount + 2);
            foreach (var profile in childrens ? candidates.OrderBy(_ => random.Next()).Take(profileCount) : candidates)
            {
                // ~106,000 beds over 1,400 hospitals: 8 to 34 beds a profile.
                var total = 8 + random.Next(BedsSpread);
                var occupied = (int)(total * (0.55 + random.NextDouble() * 0.45));
                var slots = Math.Max(1, (int)Math.Round(total / 4.0));
                chosen.Add(new ProfileBeds(profile.Code, total, occupied, slots));
            }

            var name = $"{(childrens ? "children's hospital" : Kinds[random.Next(Kinds.Length)])} No. {i + 1}";
            hospitals.Add(new HospitalSample(id, Bin(random, usedBins), name, region, $"locality {random.Next(1, 40)}", chosen));
        }

        // Polyclinics draw from a stream of their own, so a seed still gives the hospitals and
        // referrals it gave before there were polyclinics (benchmarks compare across versions).
        var polyclinicRandom = new Random(~seed);
        var polyclinics = GeneratePolyclinics(polyclinicRandom, hospitalCount / 2, usedBins);
        return new NationalDataset(hospitals, polyclinics, GenerateReferrals(random, polyclinicRandom, hospitals, polyclinics, today, referralCount));
    }

    /// <summary>
    /// About <paramref name="count"/> polyclinics shared out by the region weights; at least two a
    /// region, so every patient has one and the small samples of tests keep PC-75-001 and PC-71-002.
    /// </summary>
    private static List<PolyclinicSample> GeneratePolyclinics(Random random, int count, HashSet<string> usedBins)
    {
        var totalWeight = RegionWeights.Sum(r => r.Weight);
        var polyclinics = new List<PolyclinicSample>();
        foreach (var (region, weight, city) in RegionWeights)
        {
            var inRegion = Math.Max(2, (int)Math.Round((double)count * weight / totalWeight));

            // Astana, Almaty and Shymkent are cities; an oblast's centre has about a third of its
            // polyclinics, its districts the rest.
            var inCity = region is "71" or "75" or "79" ? inRegion : Math.Max(1, inRegion / 3);
            for (var n = 1; n <= inRegion; n++)
            {
                var name = n <= inCity ? $"City polyclinic No. {n}, {city}" : $"District polyclinic, locality {n - inCity}";
                polyclinics.Add(new PolyclinicSample($"PC-{region}-{n:D3}", Bin(random, usedBins), name, region));
            }
        }

        return polyclinics;
    }

    private static List<ReferralSample> GenerateReferrals(Random random, Random polyclinicRandom, List<HospitalSample> hospitals, List<PolyclinicSample> polyclinics, DateOnly today, int count)
    {
        var polyclinicsOfRegion = polyclinics.GroupBy(p => p.RegionCode).ToDictionary(g => g.Key, g => g.ToArray());

        // Fill the calendars no further than their slots: the sample itself never overbooks.
        var free = new Dictionary<(string, string), int[]>();
        foreach (var hospital in hospitals)
        {
            foreach (var profile in hospital.Profiles)
            {
                free[(hospital.Id, profile.ProfileCode)] = Enumerable.Repeat(profile.SlotsPerDay, 30).ToArray();
            }
        }

        var child = ReferenceCatalog.BedProfiles.Where(p => p.IsChild).Select(p => p.Code).ToHashSet();
        var referrals = new List<ReferralSample>(count);
        var keys = free.Keys.ToArray();
        for (var attempts = 0; referrals.Count < count && attempts < count * 4; attempts++)
        {
            var key = keys[random.Next(keys.Length)];
            var day = (int)(random.NextDouble() * random.NextDouble() * 30);
            var slots = free[key];
            if (slots[day] == 0)
            {
                continue;
            }

            slots[day]--;
            var planned = today.AddDays(day);
            var icd = Icd10ByProfile[key.Item2];
            var region = RegionWeights[random.Next(RegionWeights.Length)].Region;
            var local = polyclinicsOfRegion[region];
            referrals.Add(new ReferralSample(key.Item1, key.Item2, Iin(random, planned, child.Contains(key.Item2)), region,
                local[polyclinicRandom.Next(local.Length)].Id, icd[random.Next(icd.Length)], planned, random.Next(3) == 0));
        }

        return referrals;
    }

    private static string PickRegion(Random random, int totalWeight)
    {
        var pick = random.Next(totalWeight);
        foreach (var (region, weight, _) in RegionWeights)
        {
            if ((pick -= weight) < 0)
            {
                return region;
            }
        }

        return RegionWeights[^1].Region;
    }

    /// <summary>A valid IIN of someone adult or child on <paramref name="onDate"/>.</summary>
    public static string Iin(Random random, DateOnly onDate, bool child)
    {
        var age = child ? random.Next(0, 17) : random.Next(19, 90);
        var birth = onDate.AddYears(-age).AddDays(-random.Next(1, 360));
        var century = birth.Year >= 2000 ? 5 : 3;
        var sex = random.Next(2);
        while (true)
        {
            var digits = $"{birth:yyMMdd}{century + sex}{random.Next(10000):D4}";
            if (CheckDigit(digits) is { } check)
            {
                return digits + check;
            }
        }
    }

    /// <summary>A valid BIN that no organisation of the dataset has yet (a BIN names one legal entity).</summary>
    private static string Bin(Random random, HashSet<string> used)
    {
        while (true)
        {
            // YYMM of registration, 4 = resident legal entity, 0 = head office, then a serial.
            var digits = $"{random.Next(95, 100):D2}{random.Next(1, 13):D2}40{random.Next(100000):D5}";
            if (CheckDigit(digits) is { } check && used.Add(digits + check))
            {
                return digits + check;
            }
        }
    }

    /// <summary>The IIN/BIN check digit of 11 digits, or null when the number cannot have one.</summary>
    public static int? CheckDigit(string elevenDigits)
    {
        int Sum(int[] weights)
        {
            var sum = 0;
            for (var i = 0; i < 11; i++)
            {
                sum += (elevenDigits[i] - '0') * weights[i];
            }

            return sum % 11;
        }

        var check = Sum([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        if (check == 10)
        {
            check = Sum([3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]);
        }

        return check == 10 ? null : check;
    }

    private static char Alphanumeric(Random random) => "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"[random.Next(34)];
}
