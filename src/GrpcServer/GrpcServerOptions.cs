namespace BedBureau.GrpcServer;

public sealed class GrpcServerOptions
{
    /// <summary>Largest request message accepted, compressed or not (default 4 MB).</summary>
    public int MaxReceiveMessageSize { get; set; } = Wire.GrpcProtocol.DefaultMaxReceiveMessageSize;

    /// <summary>
    /// Turns an application's exceptions into statuses (e.g. a domain error into
    /// INVALID_ARGUMENT); null leaves the exception unmapped (UNKNOWN, its text not sent).
    /// </summary>
    public Func<Exception, Wire.Status?>? MapException { get; set; }
}
