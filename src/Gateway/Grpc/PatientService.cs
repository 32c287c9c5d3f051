using BedBureau.BedGrain.Domain;
using BedBureau.Contract.V1;
using BedBureau.Gateway.Cache;
using BedBureau.Gateway.Security;
using BedBureau.GrpcServer;

namespace BedBureau.Gateway.Grpc;

/// <summary>bedbureau.v1.PatientService: a patient's status by code and access key, no account, and their own cancellation.</summary>
internal sealed class PatientService(BureauHost host, ReferralEventHub events, PatientRateLimiter limiter, LookupCache cache)
{
    public async Task<GetQueueStatusResponse> GetQueueStatus(GetQueueStatusRequest request, ServerCallContext context) =>
        new() { Status = await LookUpAsync(request.HospitalizationCode, request.AccessKey, context) };

    /// <summary>The status now, then again whenever it changes (a commit of the referral's grain may move it).</summary>
    public async Task WatchQueueStatus(WatchQueueStatusRequest request, IServerStreamWriter<WatchQueueStatusResponse> responseStream, ServerCallContext context)
    {
        var key = HospitalizationCodes.Parse(request.HospitalizationCode);
        var next = events.NextChange(key);
        var current = await LookUpAsync(request.HospitalizationCode, request.AccessKey, context);
        await context.WriteResponseHeadersAsync([]);
        await responseStream.WriteAsync(new WatchQueueStatusResponse { Status = current });
        while (!context.CancellationToken.IsCancellationRequested)
        {
            await next.WaitAsync(context.CancellationToken);
            next = events.NextChange(key);
            var view = await host.Bureau.GetForPatientAsync(request.HospitalizationCode, request.AccessKey, context.CancellationToken);
            var status = ContractMapping.ToQueueStatus(view, HospitalName(view.Referral.HospitalId));
            if (Changed(current, status))
            {
                current = status;
                await responseStream.WriteAsync(new WatchQueueStatusResponse { Status = status });
            }
        }
    }

    /// <summary>
    /// The patient cancels with the coupon. It takes a lookup of the address's bucket like any
    /// lookup, so it is no faster a way to guess keys; the grain checks the key (never the cache).
    /// </summary>
    public async Task<PatientServiceCancelReferralResponse> CancelReferral(PatientServiceCancelReferralRequest request, ServerCallContext context)
    {
        AuditEntry.Describe(context, request.HospitalizationCode, request.RequestId);

        // No account: a refusal is recorded under the patients' token, as the change would be.
        AuditEntry.Authenticated(context.HttpContext, Actor.Patient.OrganizationId);
        TakeLookup(request.HospitalizationCode, request.AccessKey, context);
        var reason = (BedGrain.Domain.CancellationReason)ContractMapping.Defined(request.Reason, "reason");
        var view = await CountingFailureAsync(context, () => host.Bureau.CancelByPatientAsync(request.HospitalizationCode, request.AccessKey, request.RequestId, reason,
            ReferralService.Limit(request.ReasonText, "reason_text"), context.CancellationToken));
        return new() { Status = ContractMapping.ToQueueStatus(view, HospitalName(view.Referral.HospitalId)) };
    }

    /// <summary>Takes a token of the caller's address's bucket, then checks that code and key are well formed.</summary>
    private void TakeLookup(string code, string accessKey, ServerCallContext context)
    {
        limiter.Take(context);
        if (!HospitalizationCodes.TryParse(code, out _))
        {
            throw DomainException.Invalid("hospitalization_code", "INVALID_CODE", "must look like 61.01W9.321.72S");
        }

        if (string.IsNullOrWhiteSpace(accessKey) || accessKey.Length > 32)
        {
            throw DomainException.Invalid("access_key", "INVALID_ACCESS_KEY", "must be the key printed on the coupon, e.g. K7Q4M-9XD2F");
        }
    }

    private async Task<QueueStatus> LookUpAsync(string code, string accessKey, ServerCallContext context)
    {
        TakeLookup(code, accessKey, context);

        // The hot path: the cache checks the access key against the hash it keeps; a miss asks the grain.
        return await CountingFailureAsync(context, () => cache.QueueStatusAsync(code, accessKey, async () =>
        {
            var view = await host.Bureau.GetForPatientAsync(code, accessKey, context.CancellationToken);
            return new PatientLookup(ContractMapping.ToQueueStatus(view, HospitalName(view.Referral.HospitalId)), view.Referral.AccessKeyHash, view.Referral.Status.IsActive());
        }));
    }

    /// <summary>An unknown code or a wrong key (NOT_FOUND) counts against the national budget of failed lookups.</summary>
    private async Task<T> CountingFailureAsync<T>(ServerCallContext context, Func<Task<T>> lookup)
    {
        try
        {
            return await lookup();
        }
        catch (DomainException ex) when (ex.Kind == DomainErrorKind.NotFound)
        {
            limiter.Failed(context);
            throw;
        }
    }

    private string HospitalName(string hospitalId) => host.Hospitals.TryGetValue(hospitalId, out var hospital) ? hospital.Name : hospitalId;

    private static bool Changed(QueueStatus before, QueueStatus after) =>
        before.Status != after.Status || before.QueuePosition != after.QueuePosition || !before.PlannedDate.Equals(after.PlannedDate) || before.History.Count != after.History.Count;
}
