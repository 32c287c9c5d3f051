using System.Text.Json;

namespace BedBureau.HospitalAdapter.Input;

/// <summary>
/// A FHIR R4 JSON <c>Bundle</c> of <c>Location</c> resources, one per bed, aggregated per bed profile.
/// <list type="bullet">
/// <item>A bed is a Location whose <c>physicalType</c> has the code <c>bd</c>
/// (http://terminology.hl7.org/CodeSystem/location-physical-type); other resources and
/// locations (wards, rooms) are ignored.</item>
/// <item>Its bed-profile code: the extension <see cref="ProfileExtension"/> (valueCode, valueString
/// or valueCoding.code), or a <c>type</c> coding of the system <see cref="ProfileSystem"/>; the same
/// code may appear in both and more than once, two different codes reject the bed.</item>
/// <item><c>operationalStatus</c> (v2-0116): O occupied, U unoccupied (free); C closed,
/// H housekeeping, K contaminated, I isolated count in total but are neither occupied nor free.
/// A Location with <c>status</c> suspended counts as closed, inactive is not counted at all.</item>
/// <item>Optionally the extension <see cref="SexExtension"/> (valueCode male / female) splits
/// the free beds into free_male and free_female.</item>
/// <item><c>Bundle.timestamp</c> (else <c>Bundle.meta.lastUpdated</c>) is the time of the count: a FHIR
/// <c>instant</c>, with its offset (Z, or e.g. +05:00).</item>
/// </list>
/// </summary>
public static class FhirBedBundle
{
    public const string ProfileExtension = "https://bedbureau.kz/fhir/StructureDefinition/bed-profile";
    public const string ProfileSystem = "https://bedbureau.kz/fhir/CodeSystem/bed-profile";
    public const string SexExtension = "https://bedbureau.kz/fhir/StructureDefinition/bed-sex";
    public const string PhysicalTypeSystem = "http://terminology.hl7.org/CodeSystem/location-physical-type";
    public const string BedStatusSystem = "http://terminology.hl7.org/CodeSystem/v2-0116";

    public static IReadOnlyList<BedCount> Parse(string file, string json, DateTimeOffset now)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException ex)
        {
            throw new InputException(file, $"line {(ex.LineNumber ?? 0) + 1}", "json", $"not valid JSON: {ex.Message}");
        }

        using (document)
        {
            var bundle = document.RootElement;
            if (bundle.ValueKind != JsonValueKind.Object || Text(bundle, "resourceType") != "Bundle")
            {
                throw new InputException(file, "Bundle", "resourceType", "the file must be a FHIR Bundle");
            }

            var reportedAt = BundleTime(file, bundle, now);
            if (!bundle.TryGetProperty("entry", out var entries) || entries.ValueKind != JsonValueKind.Array)
            {
                throw new InputException(file, "Bundle", "entry", "the Bundle has no entries");
            }

            var profiles = new Dictionary<string, Tally>(StringComparer.Ordinal);
            var ids = new HashSet<string>(StringComparer.Ordinal);
            var index = 0;
            foreach (var entry in entries.EnumerateArray())
            {
                var where = $"entry[{index++}]";
                if (!entry.TryGetProperty("resource", out var resource) || resource.ValueKind != JsonValueKind.Object)
                {
                    throw new InputException(file, where, "resource", "the entry has no resource");
                }

                if (Text(resource, "resourceType") != "Location" || !IsBed(resource))
                {
                    continue;
                }

                var id = Text(resource, "id");
                if (id is { Length: > 0 })
                {
                    where = $"Location/{id}";
                    if (!ids.Add(id))
                    {
                        throw new InputException(file, where, "id", "the Bundle has two beds with this id");
                    }
                }

                var status = Text(resource, "status");
                if (status is not (null or "active" or "suspended" or "inactive"))
                {
                    throw new InputException(file, where, "status", $"'{status}' is not a Location status (active, suspended, inactive)");
                }

                if (status == "inactive")
                {
                    continue;
                }

                var code = ProfileCode(file, where, resource);
                var bedStatus = OperationalStatus(file, where, resource);
                if (!profiles.TryGetValue(code, out var tally))
                {
                    profiles[code] = tally = new Tally(new Origin(file, where));
                }

                tally.Beds++;
                if (status == "suspended")
                {
                    continue;
                }

                if (bedStatus == "O")
                {
                    tally.Occupied++;
                }
                else if (bedStatus == "U")
                {
                    tally.Free++;
                    var sex = Sex(file, where, resource);
                    tally.FreeMale += sex == "male" ? 1 : 0;
                    tally.FreeFemale += sex == "female" ? 1 : 0;
                }
            }

            if (profiles.Count == 0)
            {
                throw new InputException(file, "Bundle", "entry", "no Location of physical type bed (bd) in the Bundle");
            }

            if (profiles.Count > ExportRules.MaxProfilesPerReport)
            {
                throw new InputException(file, "Bundle", "entry", $"beds of more than {ExportRules.MaxProfilesPerReport} bed profiles");
            }

            return profiles.OrderBy(p => p.Key, StringComparer.Ordinal)
                .Select(p => new BedCount(p.Key, p.Value.Beds, p.Value.Occupied, p.Value.Free, p.Value.FreeMale, p.Value.FreeFemale, reportedAt, p.Value.Origin))
                .ToArray();
        }
    }

    private static DateTimeOffset? BundleTime(string file, JsonElement bundle, DateTimeOffset now)
    {
        var (field, text) = Text(bundle, "timestamp") is { } timestamp ? ("timestamp", timestamp)
            : bundle.TryGetProperty("meta", out var meta) && Text(meta, "lastUpdated") is { } updated ? ("meta.lastUpdated", updated)
            : ("", null);
        if (text is null)
        {
            return null;
        }

        var where = Text(bundle, "id") is { Length: > 0 } id ? $"Bundle/{id}" : "Bundle";

        // FHIR R4 instant: the offset is required, so one without is refused rather than read in some zone.
        if (ExportRules.InstantProblem(text, out var time) is { } problem)
        {
            throw new InputException(file, where, field, problem);
        }

        return time > now + ExportRules.FutureSkew ? throw new InputException(file, where, field, $"{time:O} is in the future") : time;
    }

    private static bool IsBed(JsonElement location) =>
        location.TryGetProperty("physicalType", out var type) && Codings(type).Any(c => c.Code == "bd" && c.System is null or PhysicalTypeSystem);

    private static string ProfileCode(string file, string where, JsonElement location)
    {
        var fromExtension = OneProfileCode(file, where, $"extension[{ProfileExtension}]", Extensions(location, ProfileExtension).Select(extension =>
            Text(extension, "valueCode") ?? Text(extension, "valueString")
                ?? (extension.TryGetProperty("valueCoding", out var coding) ? Text(coding, "code") : null)
                ?? throw new InputException(file, where, $"extension[{ProfileExtension}]", "has no valueCode, valueString or valueCoding.code")));
        var fromType = OneProfileCode(file, where, "type", location.TryGetProperty("type", out var types) && types.ValueKind == JsonValueKind.Array
            ? types.EnumerateArray().SelectMany(Codings).Where(c => c.System == ProfileSystem).Select(c => c.Code).OfType<string>()
            : []);
        if (fromExtension is not null && fromType is not null && fromExtension != fromType)
        {
            throw new InputException(file, where, "type", $"the bed-profile code in type ({fromType}) differs from the extension's ({fromExtension})");
        }

        var code = fromExtension ?? fromType
            ?? throw new InputException(file, where, "extension", $"the bed has no bed-profile code (extension {ProfileExtension} or a type coding of {ProfileSystem})");
        return ExportRules.ProfileCodeProblem(code) is { } problem ? throw new InputException(file, where, "bed_profile_code", problem) : code;
    }

    /// <summary>The code <paramref name="codes"/> give, or null: a bed is of one profile, so two different codes are an error, not a choice.</summary>
    private static string? OneProfileCode(string file, string where, string field, IEnumerable<string> codes)
    {
        var distinct = codes.Distinct(StringComparer.Ordinal).ToArray();
        return distinct.Length > 1
            ? throw new InputException(file, where, field, $"the bed has {distinct.Length} bed-profile codes ({string.Join(", ", distinct)}); a bed belongs to one profile")
            : distinct.SingleOrDefault();
    }

    private static string OperationalStatus(string file, string where, JsonElement location)
    {
        if (!location.TryGetProperty("operationalStatus", out var status) || status.ValueKind != JsonValueKind.Object)
        {
            throw new InputException(file, where, "operationalStatus", "is required for a bed (v2-0116: O, U, C, H, K or I)");
        }

        var system = Text(status, "system");
        if (system is not null && system != BedStatusSystem)
        {
            throw new InputException(file, where, "operationalStatus.system", $"must be {BedStatusSystem}, not {system}");
        }

        var code = Text(status, "code");
        return code is "O" or "U" or "C" or "H" or "K" or "I"
            ? code
            : throw new InputException(file, where, "operationalStatus.code", $"'{code}' is not a v2-0116 bed status (O, U, C, H, K, I)");
    }

    private static string? Sex(string file, string where, JsonElement location)
    {
        foreach (var extension in Extensions(location, SexExtension))
        {
            var sex = Text(extension, "valueCode");
            return sex is "male" or "female" ? sex : throw new InputException(file, where, $"extension[{SexExtension}]", $"valueCode '{sex}' is not male or female");
        }

        return null;
    }

    private static IEnumerable<JsonElement> Extensions(JsonElement resource, string url) =>
        resource.TryGetProperty("extension", out var extensions) && extensions.ValueKind == JsonValueKind.Array
            ? extensions.EnumerateArray().Where(e => Text(e, "url") == url)
            : [];

    private static IEnumerable<(string? System, string? Code)> Codings(JsonElement codeableConcept) =>
        codeableConcept.ValueKind == JsonValueKind.Object && codeableConcept.TryGetProperty("coding", out var codings) && codings.ValueKind == JsonValueKind.Array
            ? codings.EnumerateArray().Select(c => (Text(c, "system"), Text(c, "code")))
            : [];

    private static string? Text(JsonElement element, string property) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <param name="origin">The profile's first bed.</param>
    private sealed class Tally(Origin origin)
    {
        public readonly Origin Origin = origin;
        public int Beds;
        public int Occupied;
        public int Free;
        public int FreeMale;
        public int FreeFemale;
    }
}
