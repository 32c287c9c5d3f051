namespace BedBureau.HospitalAdapter.Input;

/// <summary>
/// The CSV export of bed counts: a header row, then one row per bed profile.
/// Required columns <c>bed_profile_code,total,occupied,free</c>; optional <c>free_male,free_female</c>
/// (0 when absent) and <c>reported_at</c> (ISO 8601 or day.month.year, see
/// <see cref="ExportRules.TimeProblem"/>; without an offset, Kazakhstan time; when absent, the
/// time the file was written).
/// </summary>
public static class BedCsv
{
    private static readonly string[] Required = ["bed_profile_code", "total", "occupied", "free"];
    private static readonly string[] Optional = ["free_male", "free_female", "reported_at"];

    public static IReadOnlyList<BedCount> Parse(string file, string text, DateTimeOffset now)
    {
        var table = CsvTable.Parse(file, text, Required, Optional);
        if (table.Records.Count == 0)
        {
            throw new InputException(file, "line 2", "row", "the file has a header but no bed profiles");
        }

        if (table.Records.Count > ExportRules.MaxProfilesPerReport)
        {
            throw new InputException(file, $"line {table.Records[ExportRules.MaxProfilesPerReport].Line}", "row", $"more than {ExportRules.MaxProfilesPerReport} bed profiles");
        }

        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var counts = new List<BedCount>(table.Records.Count);
        foreach (var row in table.Records)
        {
            var code = row.Get("bed_profile_code");
            if (ExportRules.ProfileCodeProblem(code) is { } problem)
            {
                throw row.Error("bed_profile_code", problem);
            }

            if (!seen.TryAdd(code, row.Line))
            {
                throw row.Error("bed_profile_code", $"{code} already appears on line {seen[code]}");
            }

            var total = row.Int("total", 0, 100_000);
            var occupied = row.Int("occupied", 0, int.MaxValue);
            var free = row.Int("free", 0, int.MaxValue);
            var freeMale = row.Int("free_male", 0, int.MaxValue, absent: 0);
            var freeFemale = row.Int("free_female", 0, int.MaxValue, absent: 0);
            if (ExportRules.CountsProblem(total, occupied, free, freeMale, freeFemale) is { } counts_)
            {
                throw row.Error(counts_.Field, counts_.Reason);
            }

            DateTimeOffset? reportedAt = null;
            if (row.Get("reported_at") is { Length: > 0 } timeText)
            {
                if (ExportRules.TimeProblem(timeText, out var time) is { } timeProblem)
                {
                    throw row.Error("reported_at", timeProblem);
                }

                if (time > now + ExportRules.FutureSkew)
                {
                    throw row.Error("reported_at", $"{time:O} is in the future");
                }

                reportedAt = time;
            }

            counts.Add(new BedCount(code, total, occupied, free, freeMale, freeFemale, reportedAt, new Origin(file, row.Location)));
        }

        return counts;
    }
}
