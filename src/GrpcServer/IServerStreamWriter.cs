namespace BedBureau.GrpcServer;

/// <summary>The response messages of a server- or bidirectional-streaming call.</summary>
public interface IServerStreamWriter<in T>
{
    Task WriteAsync(T message, CancellationToken cancellationToken = default);
}
