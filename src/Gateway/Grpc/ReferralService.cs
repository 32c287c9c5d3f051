using System.Text.Json;
using BedBureau.BedGrain.Domain;
using BedBureau.Contract.V1;
using BedBureau.Gateway.ReferenceData;
using BedBureau.Gateway.Security;
using BedBureau.GrpcServer;
using Domain = BedBureau.BedGrain.Domain;

namespace BedBureau.Gateway.Grpc;

/// <summary>bedbureau.v1.ReferralService: a polyclinic finds beds and refers patients.</summary>
internal sealed class ReferralService(BureauHost host, CallerResolver callers, TimeProvider time, Cache.LookupCache cache)
{
    private static readonly HashSet<string> RegionCodes = ReferenceCatalog.Regions.Select(r => r.Code).ToHashSet();

    public async Task<SearchFreeBedsResponse> SearchFreeBeds(SearchFreeBedsRequest request, ServerCallContext context)
    {
        await callers.RequireAsync(context, OrganizationKind.Polyclinic, OrganizationKind.Hospital, OrganizationKind.Admin);
        return await SearchPublicAsync(request);
    }

    /// <summary>The search itself, also behind the public free-beds board (JSON over HTTP): open data, no caller.</summary>
    public async Task<SearchFreeBedsResponse> SearchPublicAsync(SearchFreeBedsRequest request)
    {
        var profile = Identifiers.RequireCode(request.BedProfileCode, "bed_profile_code");
        return await cache.SearchAsync(profile, WorkingDayCalendar.LocalDate(time.GetUtcNow()), request, () => FreeBedSearch.Run(host, request, time));
    }

    public async Task<RegisterReferralResponse> RegisterReferral(RegisterReferralRequest request, ServerCallContext context)
    {
        AuditEntry.Describe(context, $"{request.HospitalId}/{request.BedProfileCode}", request.RequestId);
        var actor = await callers.RequirePolyclinicAsync(context);
        var key = new BedGrainKey(Identifiers.RequireCode(request.HospitalId, "hospital_id"), Identifiers.RequireCode(request.BedProfileCode, "bed_profile_code"));
        if (ContractMapping.Defined(request.Purpose, "purpose") == Contract.V1.TreatmentPurpose.Unspecified)
        {
            throw DomainException.Invalid("purpose", "REQUIRED", "is required (SURGICAL or CONSERVATIVE)");
        }

        ContractMapping.Defined(request.FinanceSource, "finance_source");

        if (!RegionCodes.Contains(request.PatientRegionCode))
        {
            throw DomainException.Invalid("patient_region_code", "UNKNOWN_REGION", "must be one of the 20 KATO region codes");
        }

        var result = await host.Bureau.RegisterAsync(key, new RegisterReferral(
            request.RequestId, actor, request.PatientIin, request.Icd10Code, ContractMapping.ToDate(request.PlannedDate, "planned_date"),
            (Domain.TreatmentPurpose)request.Purpose, (Domain.FinanceSource)request.FinanceSource, request.PatientLocality, request.PatientRegionCode), context.CancellationToken);
        return new RegisterReferralResponse
        {
            HospitalizationCode = result.View.Referral.HospitalizationCode,
            AccessKey = result.AccessKey,
            QueuePosition = result.View.QueuePosition,
            PlannedDate = ContractMapping.ToProto(result.View.Referral.PlannedDate),
            Referral = ContractMapping.ToProto(result.View, request.PatientIin),
        };
    }

    public async Task<GetReferralResponse> GetReferral(GetReferralRequest request, ServerCallContext context)
    {
        var caller = await callers.RequireAsync(context, OrganizationKind.Polyclinic, OrganizationKind.Hospital, OrganizationKind.Admin);
        var view = await host.Bureau.GetAsync(request.HospitalizationCode, context.CancellationToken);
        var referral = view.Referral;
        var entitled = caller.Kind switch
        {
            OrganizationKind.Polyclinic => referral.ReferringOrganizationId == caller.OrganizationId,
            OrganizationKind.Hospital => referral.HospitalId == caller.OrganizationId,
            _ => false,
        };
        if (!entitled && caller.Kind != OrganizationKind.Admin)
        {
            throw new Wire.RpcException(Wire.StatusCode.PermissionDenied, "[NOT_YOUR_REFERRAL] Only the referring polyclinic and the receiving hospital see this referral.");
        }

        return new GetReferralResponse { Referral = ContractMapping.ToProto(view, entitled ? host.Protector.Unprotect(referral.ProtectedPatientIin) : null) };
    }

    public async Task<CancelReferralResponse> CancelReferral(CancelReferralRequest request, ServerCallContext context)
    {
        AuditEntry.Describe(context, request.HospitalizationCode, request.RequestId);
        var actor = await callers.RequirePolyclinicAsync(context);
        var view = await host.Bureau.CancelAsync(request.HospitalizationCode, actor, request.RequestId, (Domain.CancellationReason)ContractMapping.Defined(request.Reason, "reason"), Limit(request.ReasonText, "reason_text"), context.CancellationToken);
        return new CancelReferralResponse { Referral = ContractMapping.ToProto(view, host.Protector.Unprotect(view.Referral.ProtectedPatientIin)) };
    }

    public async Task<RescheduleReferralResponse> RescheduleReferral(RescheduleReferralRequest request, ServerCallContext context)
    {
        AuditEntry.Describe(context, request.HospitalizationCode, request.RequestId);
        var actor = await callers.RequirePolyclinicAsync(context);
        var view = await host.Bureau.RescheduleAsync(request.HospitalizationCode, actor, request.RequestId,
            ContractMapping.ToDate(request.PlannedDate, "planned_date"), Limit(request.Reason, "reason"), context.CancellationToken);
        return new RescheduleReferralResponse { Referral = ContractMapping.ToProto(view, host.Protector.Unprotect(view.Referral.ProtectedPatientIin)) };
    }

    public async Task<ListReferralsResponse> ListReferrals(ListReferralsRequest request, ServerCallContext context)
    {
        var actor = await callers.RequirePolyclinicAsync(context);
        var pageSize = ContractMapping.PageSize(request.PageSize);
        var offset = ContractMapping.PageOffset(request.PageToken);
        var statuses = ContractMapping.StatusFilter(request.Statuses).Select(s => (int)s).Distinct().ToArray();
        var bodies = await host.Storage.Directory.ListReferralBodiesAsync(actor.OrganizationId, statuses, offset, pageSize + 1, context.CancellationToken);
        var response = new ListReferralsResponse();
        foreach (var body in bodies.Take(pageSize))
        {
            var stored = JsonSerializer.Deserialize<Domain.Referral>(body)!;

            // Active referrals read their live queue position from their grain.
            var view = stored.Status.IsActive()
                ? await host.Bureau.GetAsync(stored.HospitalizationCode, context.CancellationToken)
                : new ReferralView(stored, 0, false, time.GetUtcNow());
            response.Referrals.Add(ContractMapping.ToProto(view, host.Protector.Unprotect(stored.ProtectedPatientIin)));
        }

        response.NextPageToken = bodies.Count > pageSize ? ContractMapping.NextPageToken(offset, pageSize, pageSize, more: true) : "";
        return response;
    }

    internal static string Limit(string text, string field, int max = 1000) =>
        text.Length <= max ? text : throw DomainException.Invalid(field, "TOO_LONG", $"must be at most {max} characters");
}

/// <summary>The free-bed search, shared by the polyclinics' gRPC call and the public HTTP board.</summary>
internal static class FreeBedSearch
{
    private static readonly HashSet<string> RegionCodes = ReferenceCatalog.Regions.Select(r => r.Code).ToHashSet();

    public static SearchFreeBedsResponse Run(BureauHost host, SearchFreeBedsRequest request, TimeProvider time)
    {
        var bureau = host.Bureau;
        var profile = Identifiers.RequireCode(request.BedProfileCode, "bed_profile_code");
        if (bureau.Directory.FindProfile(profile) is null)
        {
            throw DomainException.NotFound("UNKNOWN_PROFILE", $"bed_profile_code: no bed profile {profile}", "bed_profile_code");
        }

        if (request.RegionCode.Length > 0 && !RegionCodes.Contains(request.RegionCode))
        {
            throw DomainException.Invalid("region_code", "UNKNOWN_REGION", "must be one of the 20 KATO region codes");
        }

        var now = time.GetUtcNow();
        var today = WorkingDayCalendar.LocalDate(now);
        var from = ContractMapping.ToOptionalDate(request.DateFrom, "date_from") ?? today;
        var to = ContractMapping.ToOptionalDate(request.DateTo, "date_to") ?? from.AddDays(30);
        if (to < from)
        {
            throw DomainException.Invalid("date_to", "BEFORE_DATE_FROM", "must not be before date_from");
        }

        if (to.DayNumber - from.DayNumber > 366)
        {
            throw DomainException.Invalid("date_to", "RANGE_TOO_LONG", "the range may span at most 366 days");
        }

        var maxResults = ContractMapping.PageSize(request.MaxResults, "max_results", fallback: 50, max: 500);
        var offers = bureau.FreeBeds.Search(new FreeBedQuery(profile, request.RegionCode.Length > 0 ? request.RegionCode : null, from < today ? today : from, to, null, maxResults));
        var response = new SearchFreeBedsResponse { AsOf = ContractMapping.ToProto(now) };
        foreach (var offer in offers)
        {
            response.Offers.Add(new Contract.V1.FreeBedOffer
            {
                HospitalId = offer.Hospital.Id,
                HospitalName = offer.Hospital.Name,
                RegionCode = offer.Hospital.RegionCode,
                BedProfileCode = offer.ProfileCode,
                EarliestFreeDate = ContractMapping.ToProto(offer.EarliestFreeDate),
                FreeSlotsInRange = offer.FreeSlotsInRange,
                Census = ContractMapping.ToProto(offer.ProfileCode, offer.Census, now, bureau.Options.StaleAfter),
                QueueLength = offer.QueueLength,
            });
        }

        return response;
    }
}
