using BedBureau.Contract.V1;
using BedBureau.Gateway.Security;
using BedBureau.Gateway.Storage;
using BedBureau.GrpcServer;

namespace BedBureau.Gateway.Grpc;

/// <summary>bedbureau.v1.AuditService: the audit trail, for the ministry's administrators only.</summary>
internal sealed class AuditService(BureauHost host, CallerResolver callers)
{
    public async Task<ListAuditRecordsResponse> ListAuditRecords(ListAuditRecordsRequest request, ServerCallContext context)
    {
        await callers.RequireAsync(context, OrganizationKind.Admin);
        var pageSize = ContractMapping.PageSize(request.PageSize);
        var after = AfterId(request.PageToken);
        var from = ContractMapping.ToInstant(request.From, "from");
        var to = ContractMapping.ToInstant(request.To, "to");
        if (from is not null && to is not null && to < from)
        {
            throw BedGrain.Domain.DomainException.Invalid("to", "BEFORE_FROM", "must not be before from");
        }

        var records = await host.Storage.Audit.ListAsync(new AuditQuery(request.ActorOrganizationId, request.Action, request.Target, from, to, after, pageSize + 1), context.CancellationToken);
        var response = new ListAuditRecordsResponse();
        foreach (var r in records.Take(pageSize))
        {
            response.Records.Add(new Contract.V1.AuditRecord
            {
                Id = r.Id,
                ActorOrganizationId = r.ActorOrganizationId,
                Action = r.Action,
                Target = r.Target,
                OccurredAt = ContractMapping.ToProto(r.OccurredAt),
                RequestId = r.RequestId,
                Outcome = r.Outcome,
                Reason = r.Reason,
            });
        }

        response.NextPageToken = records.Count > pageSize ? Convert.ToBase64String(BitConverter.GetBytes(records[pageSize - 1].Id)) : "";
        return response;
    }

    /// <summary>Page tokens are the last id returned (keyset paging: appends never shift a page).</summary>
    private static long AfterId(string token)
    {
        if (token.Length == 0)
        {
            return 0;
        }

        try
        {
            var bytes = Convert.FromBase64String(token);
            return bytes.Length == 8 && BitConverter.ToInt64(bytes) is >= 0 and var id ? id : throw new FormatException();
        }
        catch (FormatException)
        {
            throw BedGrain.Domain.DomainException.Invalid("page_token", "INVALID_TOKEN", "is not a token this service issued");
        }
    }
}
