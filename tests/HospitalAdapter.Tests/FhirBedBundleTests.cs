using BedBureau.HospitalAdapter.Input;

namespace BedBureau.HospitalAdapter.Tests;

public sealed class FhirBedBundleTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 9, 0, 0, TimeSpan.FromHours(5));

    [Fact]
    public void Aggregates_beds_per_profile_by_operational_status()
    {
        var beds = new[]
        {
            Bed("b1", "101", "O"), Bed("b2", "101", "U", sex: "male"), Bed("b3", "101", "U", sex: "female"), Bed("b4", "101", "U"),
            Bed("b5", "101", "C"), Bed("b6", "101", "H"), Bed("b7", "101", "K"), Bed("b8", "101", "I"),
            Bed("b9", "101", "U", status: "suspended"), Bed("b10", "101", "U", status: "inactive"),
            Bed("c1", "201", "O", viaType: true), Bed("c2", "201", "U", viaType: true),
            """{ "resource": { "resourceType": "Location", "id": "ward", "physicalType": { "coding": [ { "code": "wa" } ] } } }""",
            """{ "resource": { "resourceType": "Organization", "id": "org" } }""",
        };

        var counts = FhirBedBundle.Parse("beds.json", Bundle(beds, timestamp: "2026-11-23T07:30:00+05:00"), Now);

        var at = new DateTimeOffset(2026, 11, 23, 7, 30, 0, TimeSpan.FromHours(5));
        Assert.Equal(2, counts.Count);

        // Closed, housekeeping, contaminated, isolated and suspended beds are in total, neither occupied nor free; inactive ones are not beds.
        Assert.Equal(("101", 9, 1, 3, 1, 1, (DateTimeOffset?)at), (counts[0].ProfileCode, counts[0].Total, counts[0].Occupied, counts[0].Free, counts[0].FreeMale, counts[0].FreeFemale, counts[0].ReportedAt));
        Assert.Equal(("201", 2, 1, 1), (counts[1].ProfileCode, counts[1].Total, counts[1].Occupied, counts[1].Free));
    }

    [Fact]
    public void The_shipped_sample_bundle_is_valid()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "samples", "beds.fhir.json");

        var counts = FhirBedBundle.Parse(path, File.ReadAllText(path), Now);

        Assert.Equal(["101", "103"], counts.Select(c => c.ProfileCode));
    }

    [Theory]
    [InlineData("""{ "resourceType": "Patient" }""", "Bundle", "resourceType", "must be a FHIR Bundle")]
    [InlineData("""{ "resourceType": "Bundle", "entry": [ """, "line 1", "json", "not valid JSON")]
    [InlineData("""{ "resourceType": "Bundle", "entry": [] }""", "Bundle", "entry", "no Location of physical type bed")]
    [InlineData("""{ "resourceType": "Bundle", "timestamp": "soon", "entry": [] }""", "Bundle", "timestamp", "not a FHIR instant")]
    [InlineData("""{ "resourceType": "Bundle", "id": "census-1", "timestamp": "2026-11-23T07:30:00", "entry": [] }""", "Bundle/census-1", "timestamp", "has no time zone")]
    [InlineData("""{ "resourceType": "Bundle", "meta": { "lastUpdated": "2026-11-23T07:30:00" }, "entry": [] }""", "Bundle", "meta.lastUpdated", "has no time zone")]
    [InlineData("""{ "resourceType": "Bundle", "entry": [ {} ] }""", "entry[0]", "resource", "has no resource")]
    public void Rejects_a_bad_bundle(string json, string location, string field, string reason)
    {
        var error = Assert.Throws<InputException>(() => FhirBedBundle.Parse("beds.json", json, Now));

        Assert.Equal((location, field), (error.Location, error.Field));
        Assert.Contains(reason, error.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("X", null, null, "operationalStatus.code", "'X' is not a v2-0116 bed status")]
    [InlineData(null, null, null, "operationalStatus", "is required for a bed")]
    [InlineData("U", "", null, "extension", "has no bed-profile code")]
    [InlineData("U", "1 01", null, "bed_profile_code", "is not a bed-profile code")]
    [InlineData("U", "101", "other", $"extension[{FhirBedBundle.SexExtension}]", "not male or female")]
    public void Rejects_the_whole_bundle_naming_the_bed_resource(string? status, string? profile, string? sex, string field, string reason)
    {
        var json = Bundle([Bed("good", "101", "U"), Bed("bad-7", profile ?? "101", status, sex: sex, noProfile: profile == "")]);

        var error = Assert.Throws<InputException>(() => FhirBedBundle.Parse("beds.json", json, Now));

        Assert.Equal(("Location/bad-7", field), (error.Location, error.Field));
        Assert.Contains(reason, error.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "101", "103" }, new string[0], $"extension[{FhirBedBundle.ProfileExtension}]")]
    [InlineData(new string[0], new[] { "101", "103" }, "type")]
    [InlineData(new[] { "101", "101" }, new[] { "103", "103" }, "type")]
    public void Rejects_a_bed_with_two_bed_profile_codes(string[] extensionCodes, string[] typeCodes, string field)
    {
        var json = Bundle([Bed("good", "101", "U"), ProfiledBed("two-profiles", extensionCodes, typeCodes)]);

        var error = Assert.Throws<InputException>(() => FhirBedBundle.Parse("beds.json", json, Now));

        Assert.Equal(("Location/two-profiles", field), (error.Location, error.Field));
        Assert.Contains("101", error.Reason, StringComparison.Ordinal);
        Assert.Contains("103", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Takes_a_bed_profile_code_given_more_than_once()
    {
        var counts = FhirBedBundle.Parse("beds.json", Bundle([ProfiledBed("b1", ["101", "101"], ["101", "101"])]), Now);

        Assert.Equal(("101", 1, 1), (Assert.Single(counts).ProfileCode, counts[0].Total, counts[0].Free));
    }

    [Fact]
    public void Rejects_two_beds_with_one_id()
    {
        var error = Assert.Throws<InputException>(() => FhirBedBundle.Parse("beds.json", Bundle([Bed("b1", "101", "U"), Bed("b1", "101", "O")]), Now));

        Assert.Equal(("Location/b1", "id"), (error.Location, error.Field));
    }

    internal static string Bed(string id, string profile, string? operational, string? sex = null, string status = "active", bool viaType = false, bool noProfile = false)
    {
        var extensions = new List<string>();
        if (!noProfile && !viaType)
        {
            extensions.Add($$"""{ "url": "{{FhirBedBundle.ProfileExtension}}", "valueCode": "{{profile}}" }""");
        }

        if (sex is not null)
        {
            extensions.Add($$"""{ "url": "{{FhirBedBundle.SexExtension}}", "valueCode": "{{sex}}" }""");
        }

        var type = viaType ? $$""", "type": [ { "coding": [ { "system": "{{FhirBedBundle.ProfileSystem}}", "code": "{{profile}}" } ] } ]""" : "";
        var operationalStatus = operational is null ? "" : $$""", "operationalStatus": { "system": "{{FhirBedBundle.BedStatusSystem}}", "code": "{{operational}}" }""";
        return $$"""
            { "resource": { "resourceType": "Location", "id": "{{id}}", "status": "{{status}}"{{operationalStatus}}{{type}},
              "physicalType": { "coding": [ { "system": "{{FhirBedBundle.PhysicalTypeSystem}}", "code": "bd" } ] },
              "extension": [ {{string.Join(", ", extensions)}} ] } }
            """;
    }

    /// <summary>A free bed with these codes in bed-profile extensions and in type codings of the bed-profile system.</summary>
    private static string ProfiledBed(string id, string[] extensionCodes, string[] typeCodes)
    {
        var extensions = extensionCodes.Select(code => $$"""{ "url": "{{FhirBedBundle.ProfileExtension}}", "valueCode": "{{code}}" }""");
        var codings = typeCodes.Select(code => $$"""{ "system": "{{FhirBedBundle.ProfileSystem}}", "code": "{{code}}" }""");
        return $$"""
            { "resource": { "resourceType": "Location", "id": "{{id}}", "status": "active",
              "operationalStatus": { "system": "{{FhirBedBundle.BedStatusSystem}}", "code": "U" },
              "physicalType": { "coding": [ { "system": "{{FhirBedBundle.PhysicalTypeSystem}}", "code": "bd" } ] },
              "type": [ { "coding": [ {{string.Join(", ", codings)}} ] } ],
              "extension": [ {{string.Join(", ", extensions)}} ] } }
            """;
    }

    internal static string Bundle(IEnumerable<string> entries, string? timestamp = null) =>
        $$"""{ "resourceType": "Bundle", "type": "collection"{{(timestamp is null ? "" : $", \"timestamp\": \"{timestamp}\"")}}, "entry": [ {{string.Join(",\n", entries)}} ] }""";
}
