using System.Runtime.CompilerServices;

namespace BedBureau.BedGrain.Domain;

/// <summary>
/// A referral as its grain keeps it in memory. A grain keeps every referral of its queue, and
/// on this machine a reservation costs mostly the memory it keeps (fresh pages and the
/// collector's work on them, see bench/README.md), so this form keeps less than half of a
/// <see cref="Referral"/> with its hash array and first event: the access-key hash inline, the
/// grain's hospital and profile not repeated, and while the referral is as registered, its
/// status, reason, update time and registration event implied rather than kept.
/// <see cref="ToReferral"/> gives back a record equal to the one it was made from.
/// </summary>
internal sealed class CompactReferral
{
    public const string RegistrationReason = "Registered by the referring polyclinic";

    private readonly Sha256 _accessKeyHash;

    // The registration event's sequence while the referral is as registered (_later is null).
    private readonly long _registeredEventSequence;

    private readonly Later? _later;

    private CompactReferral(Referral referral)
    {
        Code = referral.HospitalizationCode;
        _accessKeyHash = Sha256.From(referral.AccessKeyHash);
        ReferringOrganizationId = referral.ReferringOrganizationId;
        PatientKey = referral.PatientKey;
        ProtectedPatientIin = referral.ProtectedPatientIin;
        Icd10Code = referral.Icd10Code;
        Purpose = referral.Purpose;
        FinanceSource = referral.FinanceSource;
        PatientLocality = referral.PatientLocality;
        PatientRegionCode = referral.PatientRegionCode;
        PlannedDate = referral.PlannedDate;
        RegistrationSequence = referral.RegistrationSequence;
        RegisteredAt = referral.RegisteredAt;
        ScheduleDueAt = referral.ScheduleDueAt;
        if (referral.History is [var first] && IsAsRegistered(referral) && first == RegistrationEvent(first.Sequence) && first.OccurredAt.EqualsExact(referral.RegisteredAt))
        {
            _registeredEventSequence = first.Sequence;
        }
        else
        {
            _later = new Later(referral.Status, referral.StatusReason, referral.UpdatedAt, referral.AdmittedAt, referral.RefusedAt,
                referral.RefusalReason, referral.CancellationReason, referral.History);
        }
    }

    /// <summary>The compact form of a referral of the grain <paramref name="key"/>.</summary>
    public static CompactReferral From(BedGrainKey key, Referral referral) =>
        referral.HospitalId == key.HospitalId && referral.ProfileCode == key.ProfileCode
            ? new CompactReferral(referral)
            : throw new InvalidOperationException($"{referral.HospitalizationCode} belongs to {referral.HospitalId}/{referral.ProfileCode}, not to grain {key}");

    public string Code { get; }

    public ReadOnlySpan<byte> AccessKeyHash => _accessKeyHash;

    public ReferralStatus Status => _later?.Status ?? ReferralStatus.Registered;

    public string ReferringOrganizationId { get; }

    public string PatientKey { get; }

    public string ProtectedPatientIin { get; }

    public string Icd10Code { get; }

    public TreatmentPurpose Purpose { get; }

    public FinanceSource FinanceSource { get; }

    public string PatientLocality { get; }

    public string PatientRegionCode { get; }

    public DateOnly PlannedDate { get; }

    public long RegistrationSequence { get; }

    public DateTimeOffset RegisteredAt { get; }

    public DateTimeOffset ScheduleDueAt { get; }

    /// <summary>The sequence of the referral's latest event: watchers resuming after it need nothing from this referral.</summary>
    public long LastEventSequence => _later is { History: [.., var last] } ? last.Sequence : _registeredEventSequence;

    public bool IsScheduleOverdue(DateTimeOffset now) => Status == ReferralStatus.Registered && now > ScheduleDueAt;

    public Referral ToReferral(BedGrainKey key) => new()
    {
        HospitalizationCode = Code,
        AccessKeyHash = _accessKeyHash.ToArray(),
        Status = Status,
        HospitalId = key.HospitalId,
        ProfileCode = key.ProfileCode,
        ReferringOrganizationId = ReferringOrganizationId,
        PatientKey = PatientKey,
        ProtectedPatientIin = ProtectedPatientIin,
        Icd10Code = Icd10Code,
        Purpose = Purpose,
        FinanceSource = FinanceSource,
        PatientLocality = PatientLocality,
        PatientRegionCode = PatientRegionCode,
        PlannedDate = PlannedDate,
        RegistrationSequence = RegistrationSequence,
        RegisteredAt = RegisteredAt,
        ScheduleDueAt = ScheduleDueAt,
        AdmittedAt = _later?.AdmittedAt,
        RefusedAt = _later?.RefusedAt,
        RefusalReason = _later?.RefusalReason ?? RefusalReason.None,
        CancellationReason = _later?.CancellationReason ?? CancellationReason.None,
        StatusReason = _later?.StatusReason ?? RegistrationReason,
        UpdatedAt = _later?.UpdatedAt ?? RegisteredAt,
        History = _later?.History ?? [RegistrationEvent(_registeredEventSequence)],
    };

    /// <summary>The event of a registration: the one a referral as registered implies.</summary>
    public static ReferralEvent RegistrationEvent(long sequence, string code, string polyclinic, DateTimeOffset at, DateOnly plannedDate) =>
        new(sequence, code, "REGISTERED", ReferralStatus.Registered, RegistrationReason, polyclinic, at, plannedDate);

    private ReferralEvent RegistrationEvent(long sequence) => RegistrationEvent(sequence, Code, ReferringOrganizationId, RegisteredAt, PlannedDate);

    private static bool IsAsRegistered(Referral referral) =>
        referral is { Status: ReferralStatus.Registered, StatusReason: RegistrationReason, AdmittedAt: null, RefusedAt: null, RefusalReason: RefusalReason.None, CancellationReason: CancellationReason.None } &&
        referral.UpdatedAt.EqualsExact(referral.RegisteredAt);

    /// <summary>What a referral has once it is no longer as registered.</summary>
    private sealed record Later(
        ReferralStatus Status,
        string StatusReason,
        DateTimeOffset UpdatedAt,
        DateTimeOffset? AdmittedAt,
        DateTimeOffset? RefusedAt,
        RefusalReason RefusalReason,
        CancellationReason CancellationReason,
        IReadOnlyList<ReferralEvent> History);

    /// <summary>A SHA-256 kept inside its owner rather than as an array of its own.</summary>
    [InlineArray(32)]
    private struct Sha256
    {
        private byte _first;

        public static Sha256 From(byte[] hash)
        {
            if (hash.Length != 32)
            {
                throw new ArgumentException($"an access-key hash has 32 bytes, not {hash.Length}", nameof(hash));
            }

            var value = default(Sha256);
            hash.CopyTo(value);
            return value;
        }

        public readonly byte[] ToArray() => ((ReadOnlySpan<byte>)this).ToArray();
    }
}
