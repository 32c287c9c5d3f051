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

    /// <summary>
    /// Longest a response-stream message may wait for the client to take it (default 30 s).
    /// A client that stops reading holds the write back through HTTP/2 flow control, which
    /// Kestrel's data-rate limits never time out; past this the stream is reset with
    /// ENHANCE_YOUR_CALM (RESOURCE_EXHAUSTED for the client) and its handler ends.
    /// </summary>
    public TimeSpan StreamWriteTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
