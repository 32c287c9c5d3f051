using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Runtime;
using BedBureau.Gateway.Storage;
using BedBureau.Wire;

namespace BedBureau.Gateway.Grpc;

/// <summary>
/// Domain and infrastructure failures as gRPC statuses: the code, then "[REASON] field: why".
/// Never a stack trace, never personal data (domain messages carry none).
/// </summary>
internal static class ErrorMapping
{
    public static Status? Map(Exception exception) => exception switch
    {
        DomainException e => new Status(e.Kind switch
        {
            DomainErrorKind.InvalidArgument => StatusCode.InvalidArgument,
            DomainErrorKind.NotFound => StatusCode.NotFound,
            DomainErrorKind.FailedPrecondition => StatusCode.FailedPrecondition,
            DomainErrorKind.AlreadyExists => StatusCode.AlreadyExists,
            DomainErrorKind.PermissionDenied => StatusCode.PermissionDenied,
            DomainErrorKind.Unavailable => StatusCode.Unavailable,
            _ => StatusCode.Unknown,
        }, $"[{e.Reason}] {e.Message}"),
        GrainOverloadedException => new Status(StatusCode.ResourceExhausted, "[OVERLOADED] Too many requests for this hospital and profile; retry with backoff."),
        StorageUnavailableException => new Status(StatusCode.Unavailable, "[STORAGE_UNAVAILABLE] The database is unreachable; nothing was changed. Retry with the same request_id."),
        StorageConflictException => new Status(StatusCode.Aborted, "[CONCURRENT_CHANGE] Another node changed this hospital's profile, or this patient's referral for the profile, at the same time; retry with the same request_id."),
        _ => null,
    };
}
