using BedBureau.Gateway.Storage;
using BedBureau.GrpcServer;
using BedBureau.Wire;
using Microsoft.AspNetCore.Http.Features;

namespace BedBureau.Gateway.Grpc;

/// <summary>What a mutating call says about itself for its audit record; filled as the call goes.</summary>
internal sealed class AuditEntry
{
    public string Actor { get; set; } = "";

    public string Target { get; set; } = "";

    public string RequestId { get; set; } = "";

    /// <summary>Notes the call's target and request id (first thing a mutating method does, before authentication).</summary>
    public static void Describe(ServerCallContext context, string target, string requestId)
    {
        if (context.HttpContext.Features.Get<AuditEntry>() is { } entry)
        {
            entry.Target = target;
            entry.RequestId = requestId;
        }
    }

    /// <summary>Names a target learnt only on success (the code of a new referral).</summary>
    public static void Retarget(ServerCallContext context, string target)
    {
        if (context.HttpContext.Features.Get<AuditEntry>() is { } entry)
        {
            entry.Target = target;
        }
    }

    public static void Authenticated(HttpContext context, string organizationId)
    {
        if (context.Features.Get<AuditEntry>() is { } entry)
        {
            entry.Actor = organizationId;
        }
    }
}

/// <summary>
/// The audit trail of the mutating RPCs. A change that commits writes its record in the grain's
/// own storage transaction (<see cref="AuditLog.OfGrainChange"/>): there is no acknowledged
/// change without its record, and no record of a change that did not commit. A call that fails
/// (refused, invalid, unauthenticated, storage down) changes nothing, and this middleware appends
/// its record after the handler, before the call's status is sent; should that append fail, the
/// call ends UNAVAILABLE instead of its own error. An idempotent replay changes nothing and is not
/// recorded again.
/// </summary>
internal sealed partial class AuditTrail(BureauHost host, TimeProvider time, ILogger<AuditTrail> logger)
{
    /// <summary>The contract's RPCs that change something.</summary>
    public static readonly IReadOnlySet<string> Mutations = new HashSet<string>(StringComparer.Ordinal)
    {
        "bedbureau.v1.HospitalService/ReportBeds",
        "bedbureau.v1.HospitalService/SetAdmissionCapacity",
        "bedbureau.v1.HospitalService/ScheduleReferral",
        "bedbureau.v1.HospitalService/AdmitPatient",
        "bedbureau.v1.HospitalService/RefusePatient",
        "bedbureau.v1.ReferralService/RegisterReferral",
        "bedbureau.v1.ReferralService/CancelReferral",
        "bedbureau.v1.ReferralService/RescheduleReferral",
        "bedbureau.v1.PatientService/CancelReferral",
    };

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var method = context.GetEndpoint()?.Metadata.GetMetadata<GrpcMethodMetadata>()?.Method;
        var action = method is null ? null : $"{method.Service.FullName}/{method.Name}";
        if (action is null || !Mutations.Contains(action))
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        var entry = new AuditEntry();
        context.Features.Set(entry);
        await next(context).ConfigureAwait(false);
        if (context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted)
        {
            // The client went away; whatever committed carries its referral event.
            return;
        }

        var trailers = context.Features.Get<IHttpResponseTrailersFeature>()?.Trailers;
        var code = context.Response.Headers[GrpcProtocol.StatusHeader].ToString() is { Length: > 0 } header ? header : trailers?[GrpcProtocol.StatusHeader].ToString() ?? "";
        var message = context.Response.Headers[GrpcProtocol.MessageHeader].ToString() is { Length: > 0 } m ? m : trailers?[GrpcProtocol.MessageHeader].ToString() ?? "";
        var status = int.TryParse(code, out var number) ? (StatusCode)number : StatusCode.Unknown;
        if (status == StatusCode.OK)
        {
            return; // recorded with the change, in its transaction
        }

        if (await RecordRefusalAsync(entry.Actor, action, entry.Target, entry.RequestId, new Status(status, PercentEncoding.Decode(message))).ConfigureAwait(false) is { } unavailable)
        {
            var statusHeader = ((int)unavailable.Code).ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (context.Response.HasStarted && trailers is not null)
            {
                trailers[GrpcProtocol.StatusHeader] = statusHeader;
                trailers[GrpcProtocol.MessageHeader] = PercentEncoding.Encode(unavailable.Detail);
            }
            else
            {
                context.Response.Headers[GrpcProtocol.StatusHeader] = statusHeader;
                context.Response.Headers[GrpcProtocol.MessageHeader] = PercentEncoding.Encode(unavailable.Detail);
            }
        }
    }

    /// <summary>
    /// Appends the record of a refused call, its outcome and reason taken from the status it ends
    /// with (also for the JSON front door, which does not pass through this middleware). Null once
    /// written; else the status to end the call with instead, as the refusal could not be recorded.
    /// </summary>
    internal async Task<Status?> RecordRefusalAsync(string actor, string action, string target, string requestId, Status status)
    {
        var record = new AuditRecord(0, actor, action, target, time.GetUtcNow(), requestId, StatusName(status.Code), Reason(status.Detail));
        try
        {
            await host.Storage.Audit.AppendAsync(record, CancellationToken.None).ConfigureAwait(false);
            return null;
        }
        catch (StorageUnavailableException ex)
        {
            LogAuditFailed(logger, action, ex);
            return new Status(StatusCode.Unavailable, "[AUDIT_UNAVAILABLE] The refusal could not be recorded in the audit trail; nothing was changed.");
        }
    }

    /// <summary>statuscodes.md names: PERMISSION_DENIED, not PermissionDenied.</summary>
    internal static string StatusName(StatusCode code) =>
        string.Concat(code.ToString().Select((c, i) => i > 0 && char.IsUpper(c) ? $"_{c}" : $"{char.ToUpperInvariant(c)}"));

    /// <summary>"[REASON] field: why" gives REASON; other messages give nothing (their text is not kept).</summary>
    private static string Reason(string message)
    {
        if (message.StartsWith('[') && message.IndexOf(']', StringComparison.Ordinal) is > 1 and < 64 and var end)
        {
            return message[1..end];
        }

        return "";
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "The audit record of {Action} could not be written")]
    private static partial void LogAuditFailed(ILogger logger, string action, Exception exception);
}
