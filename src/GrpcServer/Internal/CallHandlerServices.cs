using Microsoft.Extensions.Logging;

namespace BedBureau.GrpcServer.Internal;

/// <summary>What every method's handler shares.</summary>
internal sealed record CallHandlerServices(GrpcServerOptions Options, ILogger Logger, GrpcServerMetrics Metrics, CancellationToken Stopping);
