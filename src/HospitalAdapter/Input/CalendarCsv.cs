using System.Globalization;

namespace BedBureau.HospitalAdapter.Input;

/// <summary>
/// The admission calendar CSV: header <c>bed_profile_code,date,slots</c>, one row per profile and
/// date (date as yyyy-MM-dd, up to 90 days ahead; slots 0..10000). Dates not listed keep the slots
/// the bureau already has. Dates before today (Kazakhstan time) are checked like the others and
/// then skipped: the bureau no longer changes them, and a calendar exported once a day has one
/// from midnight until the next export.
/// </summary>
public static class CalendarCsv
{
    public const int DaysAhead = 90;

    private static readonly string[] Required = ["bed_profile_code", "date", "slots"];

    public static AdmissionCalendar Parse(string file, string text, DateTimeOffset now)
    {
        var table = CsvTable.Parse(file, text, Required, []);
        if (table.Records.Count == 0)
        {
            // Nothing to send is not a success: the export job most likely failed.
            throw new InputException(file, "line 2", "row", "the file has a header but no admission days");
        }

        var today = ExportRules.Today(now);
        var byProfile = new Dictionary<string, SortedDictionary<DateOnly, (int Slots, Origin Origin)>>(StringComparer.Ordinal);
        var origins = new Dictionary<string, Origin>(StringComparer.Ordinal);
        foreach (var row in table.Records)
        {
            var code = row.Get("bed_profile_code");
            if (ExportRules.ProfileCodeProblem(code) is { } problem)
            {
                throw row.Error("bed_profile_code", problem);
            }

            var dateText = row.Required("date");
            if (!DateOnly.TryParseExact(dateText, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
            {
                throw row.Error("date", $"'{dateText}' is not a date as yyyy-MM-dd");
            }

            if (date > today.AddDays(DaysAhead))
            {
                throw row.Error("date", $"{date:yyyy-MM-dd} is more than {DaysAhead} days after today ({today:yyyy-MM-dd})");
            }

            var slots = row.Int("slots", 0, 10_000);
            if (!byProfile.TryGetValue(code, out var days))
            {
                byProfile[code] = days = [];
                origins[code] = new Origin(file, row.Location);
            }

            if (!days.TryAdd(date, (slots, new Origin(file, row.Location))))
            {
                throw row.Error("date", $"{code} {date:yyyy-MM-dd} already appears on {days[date].Origin.Location}");
            }
        }

        var profiles = byProfile
            .Select(p => new ProfileCalendar(p.Key, p.Value.Where(d => d.Key >= today).Select(d => new CalendarDay(d.Key, d.Value.Slots, d.Value.Origin)).ToArray(), origins[p.Key]))
            .Where(p => p.Days.Count > 0)
            .ToArray();
        return new AdmissionCalendar(profiles, byProfile.Values.Sum(days => days.Keys.Count(d => d < today)), today);
    }
}
