namespace BedBureau.GrpcServer;

public sealed class GrpcServerOptions
{
    /// <summary>Largest request message accepted, compressed or not (default 4 MB).</summary>
    public int MaxReceiveMessageSize { get; set; } = Wire.GrpcProtocol.DefaultMaxReceiveMessageSize;
}
