using BedBureau.BedGrain.Domain;
using BedBureau.GrpcServer;
using BedBureau.Wire;

namespace BedBureau.Gateway.Security;

/// <summary>Authenticates a call and checks the caller's kind; the domain checks which records it may touch.</summary>
public sealed class CallerResolver(Authenticator authenticator)
{
    public async ValueTask<Caller> RequireAsync(ServerCallContext context, params OrganizationKind[] kinds)
    {
        var caller = await authenticator.AuthenticateAsync(context.HttpContext.Request.Headers.Authorization.ToString(), context.CancellationToken).ConfigureAwait(false);
        Grpc.AuditEntry.Authenticated(context.HttpContext, caller.OrganizationId);
        if (!kinds.Contains(caller.Kind))
        {
            throw new RpcException(StatusCode.PermissionDenied, $"[WRONG_ORGANIZATION_KIND] {caller.Kind} organisations may not call {context.Method}.");
        }

        return caller;
    }

    /// <summary>A hospital acting for its own hospital only.</summary>
    public async ValueTask<Actor> RequireHospitalAsync(ServerCallContext context, string hospitalId)
    {
        var caller = await RequireAsync(context, OrganizationKind.Hospital).ConfigureAwait(false);
        if (!string.IsNullOrEmpty(hospitalId) && hospitalId != caller.OrganizationId)
        {
            throw new RpcException(StatusCode.PermissionDenied, "[NOT_YOUR_HOSPITAL] hospital_id: a hospital acts for its own hospital only.");
        }

        return new Actor(caller.OrganizationId, ActorRole.Hospital);
    }

    public async ValueTask<Actor> RequirePolyclinicAsync(ServerCallContext context)
    {
        var caller = await RequireAsync(context, OrganizationKind.Polyclinic).ConfigureAwait(false);
        return new Actor(caller.OrganizationId, ActorRole.Polyclinic);
    }
}
