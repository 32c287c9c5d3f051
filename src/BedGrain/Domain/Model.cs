namespace BedBureau.BedGrain.Domain;

/// <summary>A grain's key: one hospital's offer of one bed profile.</summary>
public readonly record struct BedGrainKey(string HospitalId, string ProfileCode)
{
    public override string ToString() => $"{HospitalId}/{ProfileCode}";
}

public enum ReferralStatus
{
    Registered = 1,
    Scheduled = 2,
    Admitted = 3,
    Refused = 4,
    Cancelled = 5,
    NoShow = 6,
}

public enum RefusalReason
{
    None = 0,
    NoIndications = 1,
    Contraindications = 2,
    WrongProfile = 3,
    IncompleteDocuments = 4,
    Other = 5,
}

public enum CancellationReason
{
    None = 0,
    PatientRequest = 1,
    HealthImproved = 2,
    HospitalizedElsewhere = 3,
    RegisteredInError = 4,
    PatientDied = 5,
    Other = 6,
}

public enum TreatmentPurpose
{
    Unspecified = 0,
    Surgical = 1,
    Conservative = 2,
}

public enum FinanceSource
{
    Unspecified = 0,
    GuaranteedVolume = 1,
    SocialInsurance = 2,
    Paid = 3,
}

public static class ReferralStatusExtensions
{
    /// <summary>REGISTERED and SCHEDULED hold a slot; the others are terminal.</summary>
    public static bool IsActive(this ReferralStatus status) => status is ReferralStatus.Registered or ReferralStatus.Scheduled;
}

/// <summary>One change of a referral: what, who, when, why. Its sequence orders the grain's events.</summary>
public sealed record ReferralEvent(
    long Sequence,
    string HospitalizationCode,
    string Action,
    ReferralStatus Status,
    string Reason,
    string ActorOrganizationId,
    DateTimeOffset OccurredAt,
    DateOnly PlannedDate);

/// <summary>A referral as stored and answered (its grain keeps it as a <see cref="CompactReferral"/>). The patient appears only as a keyed hash and a protected IIN.</summary>
public sealed record Referral
{
    public required string HospitalizationCode { get; init; }

    /// <summary>SHA-256 of the access key; the key itself is never kept.</summary>
    public required byte[] AccessKeyHash { get; init; }

    public required ReferralStatus Status { get; init; }

    public required string HospitalId { get; init; }

    public required string ProfileCode { get; init; }

    public required string ReferringOrganizationId { get; init; }

    /// <summary>Keyed hash of the IIN, to find the patient's other referrals.</summary>
    public required string PatientKey { get; init; }

    /// <summary>The IIN, encrypted; shown only to the referring polyclinic and the receiving hospital.</summary>
    public required string ProtectedPatientIin { get; init; }

    public required string Icd10Code { get; init; }

    public TreatmentPurpose Purpose { get; init; }

    public FinanceSource FinanceSource { get; init; }

    public string PatientLocality { get; init; } = "";

    public required string PatientRegionCode { get; init; }

    public required DateOnly PlannedDate { get; init; }

    /// <summary>Order of registration in the grain: the queue's tie-break after the planned date.</summary>
    public required long RegistrationSequence { get; init; }

    public required DateTimeOffset RegisteredAt { get; init; }

    /// <summary>The hospital must schedule by then: the end of the 2nd working day after registration.</summary>
    public required DateTimeOffset ScheduleDueAt { get; init; }

    public DateTimeOffset? AdmittedAt { get; init; }

    public DateTimeOffset? RefusedAt { get; init; }

    public RefusalReason RefusalReason { get; init; }

    public CancellationReason CancellationReason { get; init; }

    public string StatusReason { get; init; } = "";

    public required DateTimeOffset UpdatedAt { get; init; }

    public IReadOnlyList<ReferralEvent> History { get; init; } = [];

    public bool IsScheduleOverdue(DateTimeOffset now) => Status == ReferralStatus.Registered && now > ScheduleDueAt;
}

/// <summary>Beds of one profile as the hospital last reported them.</summary>
public sealed record BedCensus(int Total, int Occupied, int Free, int FreeMale, int FreeFemale, DateTimeOffset ReportedAt)
{
    public bool IsStale(DateTimeOffset now, TimeSpan maxAge) => now - ReportedAt > maxAge;
}

/// <summary>Admission slots of a date and the active referrals holding them.</summary>
public readonly record struct AdmissionDay(DateOnly Date, int Slots, int Reserved)
{
    public int Free => Math.Max(0, Slots - Reserved);

    public bool OverCapacity => Reserved > Slots;
}

/// <summary>A request already answered: its repetition returns the same result.</summary>
/// <param name="Key">"actor/request id".</param>
/// <param name="ProtectedAccessKey">For a registration, the access key (encrypted) to answer the retry with.</param>
/// <param name="Result">What the first answer held that the grain's later state no longer shows (null for registrations: their referral's first event tells).</param>
public sealed record IdempotencyRecord(string Key, string Operation, string HospitalizationCode, string? ProtectedAccessKey, DateTimeOffset CreatedAt, IdempotencyResult? Result = null)
{
    public const string Registration = "RegisterReferral";

    /// <summary>A registration request fenced off by its patient grain: it may never produce a referral.</summary>
    public const string FencedRegistration = "RegisterReferral:Fenced";

    /// <summary>
    /// Registrations, fenced ones included, are remembered for good (a patient grain resolves an
    /// interrupted hold by its request id) and are loaded with the referrals.
    /// </summary>
    public bool IsRegistration => Operation is Registration or FencedRegistration;
}

/// <summary>
/// The part of a first answer a repeated request needs once later changes have moved on: the
/// census a report set, the calendar a capacity change left, or the event of a referral's change
/// (the referral as that change left it is read back from its history).
/// </summary>
public sealed record IdempotencyResult(BedCensus? Census = null, IReadOnlyList<AdmissionDay>? Calendar = null, long? EventSequence = null);
