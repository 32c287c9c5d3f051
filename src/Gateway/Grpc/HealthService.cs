using BedBureau.Contract.Health.V1;
using BedBureau.GrpcServer;
using BedBureau.Wire;

namespace BedBureau.Gateway.Grpc;

/// <summary>grpc.health.v1.Health (grpc/grpc doc/health-checking.md) over <see cref="ServingStatus"/>.</summary>
internal sealed class HealthService(ServingStatus servingStatus)
{
    public Task<HealthCheckResponse> Check(HealthCheckRequest request, ServerCallContext context)
    {
        if (!servingStatus.IsKnown(request.Service))
        {
            throw new RpcException(StatusCode.NotFound, $"Unknown service '{request.Service}'.");
        }

        return Task.FromResult(new HealthCheckResponse { Status = ToWire(servingStatus.IsServing) });
    }

    public async Task Watch(HealthCheckRequest request, IServerStreamWriter<HealthCheckResponse> responseStream, ServerCallContext context)
    {
        if (!servingStatus.IsKnown(request.Service))
        {
            // health-checking.md: Watch answers SERVICE_UNKNOWN and keeps the stream open.
            await responseStream.WriteAsync(new HealthCheckResponse { Status = HealthCheckResponse.Types.ServingStatus.ServiceUnknown }).ConfigureAwait(false);
            await Task.Delay(Timeout.Infinite, context.CancellationToken).ConfigureAwait(false);
            return;
        }

        bool? sent = null;
        while (!context.CancellationToken.IsCancellationRequested)
        {
            var changed = servingStatus.NextChange;
            var serving = servingStatus.IsServing;
            if (serving != sent)
            {
                await responseStream.WriteAsync(new HealthCheckResponse { Status = ToWire(serving) }).ConfigureAwait(false);
                sent = serving;
            }

            await changed.WaitAsync(context.CancellationToken).ConfigureAwait(false);
        }
    }

    private static HealthCheckResponse.Types.ServingStatus ToWire(bool serving) =>
        serving ? HealthCheckResponse.Types.ServingStatus.Serving : HealthCheckResponse.Types.ServingStatus.NotServing;
}
