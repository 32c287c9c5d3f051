using BedBureau.BedGrain.Storage;

namespace BedBureau.BedGrain.Domain;

public enum ActorRole
{
    /// <summary>The bureau itself: automatic transitions such as no-shows.</summary>
    System = 0,
    Hospital = 1,
    Polyclinic = 2,

    /// <summary>A patient acting with the coupon (hospitalization code and access key): no account, no organisation.</summary>
    Patient = 3,
}

/// <summary>Who asks for a change: every change records its actor.</summary>
public readonly record struct Actor(string OrganizationId, ActorRole Role)
{
    public static readonly Actor Bureau = new("bureau", ActorRole.System);

    /// <summary>
    /// Every patient acting with a coupon: one fixed token, so that events and the audit trail
    /// name no person (neither the IIN nor the code), and the coupon is what authorizes.
    /// </summary>
    public static readonly Actor Patient = new("PATIENT", ActorRole.Patient);
}

public sealed record BedReport(int Total, int Occupied, int Free, int FreeMale, int FreeFemale, DateTimeOffset? ReportedAt)
{
    /// <summary>
    /// Checks the counts and the time; <paramref name="fieldPrefix"/> locates the report in its
    /// request, e.g. "reports[2].". A hospital's clock may run a little ahead: 5 minutes are allowed.
    /// </summary>
    public void Validate(string fieldPrefix, DateTimeOffset now)
    {
        if (Total is < 0 or > 100_000)
        {
            throw DomainException.Invalid($"{fieldPrefix}total", "OUT_OF_RANGE", "must be between 0 and 100000");
        }

        if (Occupied < 0 || Occupied > Total)
        {
            throw DomainException.Invalid($"{fieldPrefix}occupied", "OUT_OF_RANGE", $"must be between 0 and total ({Total})");
        }

        if (Free < 0 || Free > Total - Occupied)
        {
            throw DomainException.Invalid($"{fieldPrefix}free", "OUT_OF_RANGE", $"must be between 0 and total - occupied ({Total - Occupied})");
        }

        if (FreeMale < 0)
        {
            throw DomainException.Invalid($"{fieldPrefix}free_male", "OUT_OF_RANGE", "must not be negative");
        }

        if (FreeFemale < 0)
        {
            throw DomainException.Invalid($"{fieldPrefix}free_female", "OUT_OF_RANGE", "must not be negative");
        }

        if (FreeMale + FreeFemale > Free)
        {
            throw DomainException.Invalid($"{fieldPrefix}free_male", "OUT_OF_RANGE", "free_male + free_female must be between 0 and free");
        }

        if (ReportedAt > now + TimeSpan.FromMinutes(5))
        {
            throw DomainException.Invalid($"{fieldPrefix}reported_at", "IN_FUTURE", "must not be in the future");
        }
    }
}

public sealed record RegisterReferral(
    string RequestId,
    Actor Actor,
    string PatientIin,
    string Icd10Code,
    DateOnly PlannedDate,
    TreatmentPurpose Purpose,
    FinanceSource FinanceSource,
    string PatientLocality,
    string PatientRegionCode);

/// <summary>A referral with what depends on the moment: its place in the queue, overdue flag.</summary>
public sealed record ReferralView(Referral Referral, int QueuePosition, bool ScheduleOverdue, DateTimeOffset AsOf)
{
    public int PeopleAhead => QueuePosition > 0 ? QueuePosition - 1 : 0;
}

public sealed record RegistrationResult(ReferralView View, string AccessKey);

/// <summary>Which referrals a hospital's queue listing returns.</summary>
public sealed record QueueFilter(IReadOnlySet<ReferralStatus>? Statuses, DateOnly? PlannedFrom, DateOnly? PlannedTo);

/// <summary>
/// What the grain's host observes after each commit (watch streams, caches): the change as
/// committed, its events included. Called inside the
/// grain's turn, in commit order; keep it short and never call back into a grain from it.
/// </summary>
public interface IBedGrainObserver
{
    void OnCommitted(BedGrainKey key, BedGrainChange change);
}

public sealed record BedGrainOptions
{
    /// <summary>A census older than this is shown as stale.</summary>
    public TimeSpan StaleAfter { get; init; } = TimeSpan.FromHours(24);

    /// <summary>How far ahead the admission calendar may be set and referrals planned.</summary>
    public int CalendarHorizonDays { get; init; } = 90;

    /// <summary>How long a request id is remembered for idempotent retries.</summary>
    public TimeSpan IdempotencyRetention { get; init; } = TimeSpan.FromDays(7);

    /// <summary>Working days the hospital has to schedule a registered referral.</summary>
    public int ScheduleWithinWorkingDays { get; init; } = 2;

    /// <summary>Days after the planned date without admission before a referral is a no-show.</summary>
    public int NoShowAfterDays { get; init; } = 2;
}
