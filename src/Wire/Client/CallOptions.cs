namespace BedBureau.Wire.Client;

/// <summary>Per-call settings: metadata, deadline, cancellation, request compression.</summary>
public readonly record struct CallOptions(
    Metadata? Headers = null,
    DateTime? Deadline = null,
    CancellationToken CancellationToken = default,
    bool CompressRequest = false)
{
    public static CallOptions WithTimeout(TimeSpan timeout, Metadata? headers = null) =>
        new(headers, DateTime.UtcNow + timeout);
}
