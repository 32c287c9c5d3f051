namespace BedBureau.HospitalAdapter.Input;

/// <summary>Where in the export files something came from, for messages: the file, and "line 4" or "Location/bed-12".</summary>
public sealed record Origin(string File, string Location)
{
    public override string ToString() => $"{File}, {Location}";
}

/// <summary>The census of one bed profile as the hospital's system exported it.</summary>
/// <param name="Origin">Its row, or the first bed of the profile in a FHIR Bundle.</param>
public sealed record BedCount(string ProfileCode, int Total, int Occupied, int Free, int FreeMale, int FreeFemale, DateTimeOffset? ReportedAt, Origin Origin);

/// <summary>Admission slots of one date of one profile.</summary>
public sealed record CalendarDay(DateOnly Date, int Slots);

/// <summary>One profile's admission calendar: the dates it lists, in date order.</summary>
/// <param name="Origin">The profile's first row.</param>
public sealed record ProfileCalendar(string ProfileCode, IReadOnlyList<CalendarDay> Days, Origin Origin);

/// <summary>The admission calendar file as read: the profiles with dates to send, and how many dates before <paramref name="Today"/> were left out.</summary>
public sealed record AdmissionCalendar(IReadOnlyList<ProfileCalendar> Profiles, int PastDatesSkipped, DateOnly Today);

/// <summary>Everything read from a hospital's export files, checked and ready to send.</summary>
/// <param name="PastDatesSkipped">Calendar dates before today, which are not sent.</param>
public sealed record HospitalExport(IReadOnlyList<BedCount> Beds, IReadOnlyList<ProfileCalendar> Calendars, int PastDatesSkipped = 0)
{
    /// <summary>
    /// Rejects the export if it names a bed profile that the hospital does not have in the bureau's
    /// directory. The bureau would refuse only that profile's call, after applying the calls before it.
    /// </summary>
    public void RequireProfilesOf(string hospitalId, IReadOnlyCollection<string> profiles)
    {
        var unknown = Beds.Select(b => (b.ProfileCode, b.Origin)).Concat(Calendars.Select(c => (c.ProfileCode, c.Origin)))
            .FirstOrDefault(p => !profiles.Contains(p.ProfileCode));
        if (unknown.Origin is { } origin)
        {
            throw new InputException(origin.File, origin.Location, "bed_profile_code",
                $"hospital {hospitalId} has no bed profile {unknown.ProfileCode} in the bureau's directory (it has {string.Join(", ", profiles)})");
        }
    }
}

/// <summary>Checks shared by the input formats; they mirror the bureau's own rules so a bad file fails here, before anything is sent.</summary>
internal static class ExportRules
{
    /// <summary>The bureau's limit on profiles in one ReportBeds call.</summary>
    public const int MaxProfilesPerReport = 500;

    /// <summary>Kazakhstan's single time zone (UTC+5 since March 2024): times without an offset are local.</summary>
    public static readonly TimeSpan Kazakhstan = TimeSpan.FromHours(5);

    /// <summary>How far a reported time may be ahead of this machine's clock (clock skew).</summary>
    public static readonly TimeSpan FutureSkew = TimeSpan.FromMinutes(5);

    public static string? ProfileCodeProblem(string code) =>
        code.Length == 0 ? "is required"
        : code.Length > 32 || !code.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_') ? $"'{code}' is not a bed-profile code (up to 32 letters, digits, '-' or '_')"
        : null;

    /// <summary>Checks the counts the way the bureau does; returns (field, reason) of the first problem.</summary>
    public static (string Field, string Reason)? CountsProblem(int total, int occupied, int free, int freeMale, int freeFemale) =>
        total > 100_000 ? ("total", "must be at most 100000")
        : occupied > total ? ("occupied", $"{occupied} is more than total ({total})")
        : free > total - occupied ? ("free", $"{free} is more than total - occupied ({total - occupied})")
        : freeMale + freeFemale > free ? ("free_male", $"free_male + free_female ({freeMale + freeFemale}) is more than free ({free})")
        : null;

    /// <summary>ISO 8601; without an offset the time is Kazakhstan local time.</summary>
    public static bool TryParseTime(string text, out DateTimeOffset time)
    {
        var styles = System.Globalization.DateTimeStyles.AllowWhiteSpaces;
        var culture = System.Globalization.CultureInfo.InvariantCulture;
        if (!System.Text.RegularExpressions.Regex.IsMatch(text, @"(Z|[+-]\d\d:?\d\d)$", System.Text.RegularExpressions.RegexOptions.IgnoreCase) &&
            DateTime.TryParse(text, culture, styles, out var local))
        {
            time = new DateTimeOffset(DateTime.SpecifyKind(local, DateTimeKind.Unspecified), Kazakhstan);
            return true;
        }

        return DateTimeOffset.TryParse(text, culture, styles, out time);
    }

    public static DateOnly Today(DateTimeOffset now) => DateOnly.FromDateTime(now.ToOffset(Kazakhstan).DateTime);
}
