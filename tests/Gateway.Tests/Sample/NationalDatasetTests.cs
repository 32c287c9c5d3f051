using System.Text.RegularExpressions;
using BedBureau.Gateway.ReferenceData;
using BedBureau.Gateway.Sample;

namespace BedBureau.Gateway.Tests.Sample;

/// <summary>The generated national picture: reproducible, at the national scale, consistent with itself.</summary>
public sealed partial class NationalDatasetTests
{
    private static readonly DateOnly Today = new(2026, 11, 23);
    private static readonly Lazy<NationalDataset> National = new(() => NationalDataset.Generate(2026, Today));

    [Fact]
    public void The_same_seed_gives_the_same_data_and_another_seed_other_data()
    {
        var a = NationalDataset.Generate(7, Today, 200, 2000);
        var b = NationalDataset.Generate(7, Today, 200, 2000);
        var c = NationalDataset.Generate(8, Today, 200, 2000);

        Assert.Equal(a.Hospitals.Select(Describe), b.Hospitals.Select(Describe));
        Assert.Equal(a.Polyclinics, b.Polyclinics);
        Assert.Equal(a.Referrals, b.Referrals);
        Assert.NotEqual(a.Hospitals.Select(Describe), c.Hospitals.Select(Describe));
        Assert.NotEqual(a.Polyclinics, c.Polyclinics);
    }

    [Fact]
    public void The_full_size_is_the_national_scale()
    {
        var national = National.Value;

        Assert.Equal(20, national.Regions.Count);
        Assert.Equal(1400, national.Hospitals.Count);
        Assert.InRange(national.TotalBeds, 100_000, 112_000);
        Assert.InRange(national.Referrals.Count, 295_000, 300_000);
        Assert.Equal(national.Regions.Select(r => r.Code).Order(), national.Hospitals.Select(h => h.RegionCode).Distinct().Order());
        Assert.InRange(national.Polyclinics.Count, 680, 720);
        Assert.Equal(national.Regions.Select(r => r.Code).Order(), national.Polyclinics.Select(p => p.RegionCode).Distinct().Order());
    }

    [Fact]
    public void Polyclinics_have_unique_ids_of_their_region_and_valid_bins_and_the_two_demo_ones_exist_at_any_size()
    {
        var national = National.Value;

        Assert.Equal(national.Polyclinics.Count, national.Polyclinics.Select(p => p.Id).Distinct().Count());
        Assert.All(national.Polyclinics, p => Assert.Matches($"^PC-{p.RegionCode}-\\d{{3}}$", p.Id));
        Assert.All(national.Polyclinics, p => Assert.Equal(p.Bin[11] - '0', NationalDataset.CheckDigit(p.Bin[..11])));
        Assert.True(national.Polyclinics.Count(p => p.RegionCode == "75") > national.Polyclinics.Count(p => p.RegionCode == "62"), "Almaty has more polyclinics than Ulytau");
        foreach (var sample in new[] { national, NationalDataset.Generate(7, Today, 5, 10) })
        {
            var byId = sample.Polyclinics.ToDictionary(p => p.Id);
            Assert.Equal(("City polyclinic No. 1, Almaty", "75"), (byId["PC-75-001"].Name, byId["PC-75-001"].RegionCode));
            Assert.Equal(("City polyclinic No. 2, Astana", "71"), (byId["PC-71-002"].Name, byId["PC-71-002"].RegionCode));
        }
    }

    [Fact]
    public void Every_referral_comes_from_a_polyclinic_of_the_patients_region_and_most_polyclinics_refer()
    {
        var national = National.Value;
        var regionOf = national.Polyclinics.ToDictionary(p => p.Id, p => p.RegionCode);

        Assert.All(national.Referrals, r => Assert.Equal(r.PatientRegionCode, regionOf[r.PolyclinicId]));
        Assert.True(national.Referrals.Select(r => r.PolyclinicId).Distinct().Count() > national.Polyclinics.Count * 0.9, "referrals are spread over the polyclinics");
    }

    [Fact]
    public void Hospitals_have_unique_ids_valid_bins_and_adult_and_child_profiles_apart()
    {
        var national = National.Value;
        var child = ReferenceCatalog.BedProfiles.Where(p => p.IsChild).Select(p => p.Code).ToHashSet();

        Assert.Equal(national.Hospitals.Count, national.Hospitals.Select(h => h.Id).Distinct().Count());
        Assert.All(national.Hospitals, h => Assert.Equal(h.Bin[11] - '0', NationalDataset.CheckDigit(h.Bin[..11])));
        Assert.All(national.Hospitals, h => Assert.Equal(h.Profiles.Count, h.Profiles.Select(p => p.ProfileCode).Distinct().Count()));
        var childrens = national.Hospitals.Where(h => h.Name.StartsWith("children's", StringComparison.Ordinal)).ToArray();
        Assert.InRange(childrens.Length, 70, 210);
        Assert.All(childrens, h => Assert.All(h.Profiles, p => Assert.Contains(p.ProfileCode, child)));
        Assert.Contains(national.Hospitals, h => h.Profiles.Any(p => child.Contains(p.ProfileCode)) && h.Profiles.Any(p => !child.Contains(p.ProfileCode)));
    }

    [Theory]
    [InlineData(2026)]
    [InlineData(4)]
    [InlineData(6)]
    [InlineData(9)]
    public void No_two_organisations_share_a_bin(int seed)
    {
        var dataset = NationalDataset.Generate(seed, Today, referralCount: 0);
        var bins = dataset.Hospitals.Select(h => h.Bin).Concat(dataset.Polyclinics.Select(p => p.Bin)).ToArray();

        Assert.Equal(bins.Length, bins.Distinct().Count());
    }

    [Fact]
    public void Referrals_fit_the_30_day_calendars_and_carry_plausible_patients_and_diagnoses()
    {
        var national = National.Value;
        var hospitals = national.Hospitals.ToDictionary(h => h.Id);
        var child = ReferenceCatalog.BedProfiles.Where(p => p.IsChild).Select(p => p.Code).ToHashSet();
        var regions = national.Regions.Select(r => r.Code).ToHashSet();

        foreach (var day in national.Referrals.GroupBy(r => (r.HospitalId, r.ProfileCode, r.PlannedDate)))
        {
            var profile = hospitals[day.Key.HospitalId].Profiles.Single(p => p.ProfileCode == day.Key.ProfileCode);
            Assert.True(day.Count() <= profile.SlotsPerDay, $"{day.Key} holds {day.Count()} of {profile.SlotsPerDay} slots");
            Assert.InRange(day.Key.PlannedDate, Today, Today.AddDays(29));
        }

        Assert.All(national.Referrals.Take(5000), r =>
        {
            Assert.Matches(Icd10(), r.Icd10Code);
            Assert.Contains(r.PatientRegionCode, regions);
            Assert.Equal(r.PatientIin[11] - '0', NationalDataset.CheckDigit(r.PatientIin[..11]));
            var born = BirthDate(r.PatientIin);
            Assert.Equal(child.Contains(r.ProfileCode), born.AddYears(18) > r.PlannedDate);
        });
    }

    [Fact]
    public void Every_profile_draws_diagnoses_of_its_own_field()
    {
        var byProfile = National.Value.Referrals.GroupBy(r => r.ProfileCode).ToDictionary(g => g.Key, g => g.Select(r => r.Icd10Code).ToHashSet());

        Assert.All(byProfile, p => Assert.True(p.Value.Count >= 2, $"profile {p.Key} has {p.Value.Count} diagnosis"));
        Assert.All(byProfile["117"].Concat(byProfile["215"]), code => Assert.StartsWith("C", code, StringComparison.Ordinal)); // oncology
        Assert.All(byProfile["101"].Concat(byProfile["202"]), code => Assert.Matches("^[IQ]", code)); // circulatory system or congenital heart
        Assert.All(byProfile["129"], code => Assert.Matches("^[TL]", code)); // burns and their scars
        Assert.DoesNotContain(byProfile.Values.SelectMany(c => c), code => code[0] is 'R' or 'Z' && code != "Z96.6"); // no "unspecified" fillers
    }

    private static DateOnly BirthDate(string iin) =>
        new((iin[6] is '5' or '6' ? 2000 : 1900) + int.Parse(iin[..2], System.Globalization.CultureInfo.InvariantCulture), int.Parse(iin[2..4], System.Globalization.CultureInfo.InvariantCulture), int.Parse(iin[4..6], System.Globalization.CultureInfo.InvariantCulture));

    private static string Describe(HospitalSample h) => $"{h.Id} {h.Bin} {h.Name} {h.RegionCode} {string.Join(';', h.Profiles)}";

    [GeneratedRegex(@"^[A-Z]\d\d(\.\d{1,2})?$")]
    private static partial Regex Icd10();
}
