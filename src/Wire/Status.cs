namespace BedBureau.Wire;

/// <summary>The outcome of a call: a code and a message for people.</summary>
public readonly record struct Status(StatusCode Code, string Detail)
{
    public static readonly Status Ok = new(StatusCode.OK, "");

    public override string ToString() => $"{Code}: {Detail}";
}

/// <summary>
/// Thrown by handlers to end a call with a status, and by the client when a call ends with
/// one other than OK.
/// </summary>
public sealed class RpcException(Status status, Metadata? trailers = null)
    : Exception(status.ToString())
{
    public RpcException(StatusCode code, string detail)
        : this(new Status(code, detail))
    {
    }

    public Status Status { get; } = status;

    public StatusCode StatusCode => Status.Code;

    public Metadata Trailers { get; } = trailers ?? [];
}
