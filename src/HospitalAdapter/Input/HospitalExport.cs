using System.Globalization;
using System.Text.RegularExpressions;

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
/// <param name="Origin">Its row.</param>
public sealed record CalendarDay(DateOnly Date, int Slots, Origin Origin);

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
internal static partial class ExportRules
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

    /// <summary>
    /// A report time, read the same on any machine whatever its time zone: ISO 8601
    /// <c>2026-11-23T08:00[:00[.fff]]</c> (T or a space) or day.month.year <c>23.11.2026 08:00[:00]</c>
    /// (as Russian and Kazakh locales write dates), then optionally <c>Z</c>, <c>±HH</c>, <c>±HHMM</c> or
    /// <c>±HH:MM</c>; without an offset, Kazakhstan time. Dates with slashes are refused: 05/11/2026 is
    /// 5 November in some systems and 11 May in others.
    /// </summary>
    /// <returns>Why <paramref name="text"/> is not such a time, or null.</returns>
    public static string? TimeProblem(string text, out DateTimeOffset time) => ParseTime(text, instant: false, out time);

    /// <summary>A FHIR <c>instant</c>: an ISO 8601 time as above that must carry its offset.</summary>
    /// <returns>Why <paramref name="text"/> is not an instant, or null.</returns>
    public static string? InstantProblem(string text, out DateTimeOffset time) => ParseTime(text, instant: true, out time);

    // Each date form names year, month and day; [0-9], since \d also takes other scripts' digits.
    [GeneratedRegex(
        @"^(?:(?<year>[0-9]{4})-(?<month>[0-9]{2})-(?<day>[0-9]{2})(?<iso>[Tt ])|(?<day>[0-9]{1,2})\.(?<month>[0-9]{1,2})\.(?<year>[0-9]{4}) +)" +
        @"(?<hour>[0-9]{1,2}):(?<minute>[0-9]{2})(?::(?<second>[0-9]{2})(?:[.,](?<fraction>[0-9]+))?)?" +
        @"(?<offset>[Zz]|(?<sign>[+-])(?<offsetHours>[0-9]{2})(?::?(?<offsetMinutes>[0-9]{2}))?)?$",
        RegexOptions.CultureInvariant)]
    private static partial Regex TimeForm();

    private static string? ParseTime(string text, bool instant, out DateTimeOffset time)
    {
        const string Example = "2026-11-23T08:00:00+05:00";
        time = default;
        var match = TimeForm().Match(text.Trim());
        if (instant && !(match.Success && match.Groups["iso"].Value is "T" or "t"))
        {
            return $"'{text}' is not a FHIR instant (e.g. {Example})";
        }

        if (!match.Success)
        {
            return text.Contains('/')
                ? $"'{text}' has a date with slashes, day/month in some systems and month/day in others: write {Example} (ISO 8601) or 23.11.2026 08:00 (day.month.year)"
                : $"'{text}' is not an ISO 8601 time ({Example}) nor day.month.year (23.11.2026 08:00)";
        }

        if (instant && !match.Groups["offset"].Success)
        {
            return $"'{text}' has no time zone: a FHIR instant ends in Z or an offset such as +05:00";
        }

        int Number(string group) => match.Groups[group].Success ? int.Parse(match.Groups[group].ValueSpan, CultureInfo.InvariantCulture) : 0;
        var offset = match.Groups["sign"].Success ? new TimeSpan(Number("offsetHours"), Number("offsetMinutes"), 0) * (match.Groups["sign"].Value == "-" ? -1 : 1)
            : match.Groups["offset"].Success ? TimeSpan.Zero
            : Kazakhstan;
        var fraction = match.Groups["fraction"].Value;
        var ticks = fraction.Length == 0 ? 0 : long.Parse(fraction.PadRight(7, '0')[..7], CultureInfo.InvariantCulture);
        var invalid = $"'{text}' is not a valid date and time" + (match.Groups["iso"].Success ? "" : " (dates with dots are day.month.year)");
        if (Number("offsetMinutes") > 59)
        {
            return invalid;
        }

        try
        {
            // The constructor checks the rest: month 13, 31 November, hour 24, an offset beyond ±14:00.
            time = new DateTimeOffset(Number("year"), Number("month"), Number("day"), Number("hour"), Number("minute"), Number("second"), offset).AddTicks(ticks);
            return null;
        }
        catch (ArgumentOutOfRangeException)
        {
            return invalid;
        }
    }

    public static DateOnly Today(DateTimeOffset now) => DateOnly.FromDateTime(now.ToOffset(Kazakhstan).DateTime);
}
