namespace BedBureau.HospitalAdapter.Input;

public enum BedFileFormat
{
    /// <summary>By the file's extension: .json is FHIR, anything else CSV.</summary>
    Auto,
    Csv,
    Fhir,
}

/// <summary>Reads and checks a hospital's export files; throws <see cref="InputException"/> for the first problem.</summary>
public static class ExportReader
{
    public static HospitalExport Read(string? bedsFile, BedFileFormat format, string? calendarFile, DateTimeOffset now)
    {
        IReadOnlyList<BedCount> beds = [];
        if (bedsFile is not null)
        {
            var text = ReadText(bedsFile);
            var fhir = format == BedFileFormat.Fhir || (format == BedFileFormat.Auto && bedsFile.EndsWith(".json", StringComparison.OrdinalIgnoreCase));
            beds = fhir ? FhirBedBundle.Parse(bedsFile, text, now) : BedCsv.Parse(bedsFile, text, now);

            // A count without its own time was true when the system wrote the file: so a re-export
            // is a new report, and a retry of the same export the same report.
            var written = new DateTimeOffset(File.GetLastWriteTimeUtc(bedsFile), TimeSpan.Zero);
            var asOf = written > now ? now : written;
            beds = beds.Select(b => b.ReportedAt is null ? b with { ReportedAt = asOf } : b).ToArray();
        }

        if (calendarFile is null)
        {
            return new HospitalExport(beds, []);
        }

        var calendar = CalendarCsv.Parse(calendarFile, ReadText(calendarFile), now);
        if (calendar.Profiles.Count == 0 && beds.Count == 0)
        {
            throw new InputException(calendarFile, "all rows", "date", $"all {calendar.PastDatesSkipped} dates are before today ({calendar.Today:yyyy-MM-dd}): nothing to send");
        }

        return new HospitalExport(beds, calendar.Profiles, calendar.PastDatesSkipped);
    }

    private static string ReadText(string file)
    {
        try
        {
            return File.ReadAllText(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InputException(file, "file", "file", ex.Message);
        }
    }
}
