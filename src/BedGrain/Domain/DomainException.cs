namespace BedBureau.BedGrain.Domain;

/// <summary>What kind of refusal a domain error is; the gateway maps each to a gRPC status.</summary>
public enum DomainErrorKind
{
    /// <summary>A field is malformed or out of range (INVALID_ARGUMENT).</summary>
    InvalidArgument,

    /// <summary>The thing named does not exist (NOT_FOUND).</summary>
    NotFound,

    /// <summary>The state does not allow it: a transition not in the lifecycle, no free slot (FAILED_PRECONDITION).</summary>
    FailedPrecondition,

    /// <summary>It exists already, e.g. the patient's active referral for the profile (ALREADY_EXISTS).</summary>
    AlreadyExists,

    /// <summary>The caller may not do this to this thing (PERMISSION_DENIED).</summary>
    PermissionDenied,

    /// <summary>Not answerable until storage is read again, e.g. after a write of unknown outcome (UNAVAILABLE: retry).</summary>
    Unavailable,
}

/// <summary>
/// A request the domain refuses, with a machine-readable reason and, for bad input, the field.
/// Nothing was changed.
/// </summary>
public sealed class DomainException(DomainErrorKind kind, string reason, string message, string? field = null)
    : Exception(message)
{
    public DomainErrorKind Kind { get; } = kind;

    /// <summary>Machine-readable, e.g. "NO_FREE_SLOT", "INVALID_IIN".</summary>
    public string Reason { get; } = reason;

    /// <summary>The request field at fault, in the contract's snake_case, e.g. "patient_iin".</summary>
    public string? Field { get; } = field;

    public static DomainException Invalid(string field, string reason, string message) => new(DomainErrorKind.InvalidArgument, reason, $"{field}: {message}", field);

    /// <param name="field">The request field that names what was not found, when one does.</param>
    public static DomainException NotFound(string reason, string message, string? field = null) => new(DomainErrorKind.NotFound, reason, message, field);

    public static DomainException Precondition(string reason, string message) => new(DomainErrorKind.FailedPrecondition, reason, message);
}
