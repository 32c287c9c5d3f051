namespace BedBureau.HospitalAdapter.Input;

/// <summary>
/// A file the adapter will not send: where (file and line, or FHIR resource id), which field and
/// why. One bad row rejects the whole file so a hospital never publishes half an export.
/// </summary>
public sealed class InputException(string file, string location, string field, string reason)
    : Exception($"{file}: {location}: {field}: {reason}")
{
    public string File { get; } = file;

    /// <summary>"line 7", or "Location/bed-12" for a FHIR resource.</summary>
    public string Location { get; } = location;

    public string Field { get; } = field;

    public string Reason { get; } = reason;
}
