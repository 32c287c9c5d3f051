using BedBureau.BedGrain.Domain;
using BedBureau.Contract.V1;
using BedBureau.Gateway.ReferenceData;
using BedBureau.GrpcServer;

namespace BedBureau.Gateway.Grpc;

/// <summary>bedbureau.v1.DirectoryService: regions, bed profiles, hospitals. Public reference data.</summary>
internal sealed class DirectoryService(BureauHost host, TimeProvider time)
{
    private static readonly HashSet<string> RegionCodes = ReferenceCatalog.Regions.Select(r => r.Code).ToHashSet();

    public Task<ListRegionsResponse> ListRegions(ListRegionsRequest request, ServerCallContext context)
    {
        var response = new ListRegionsResponse();
        response.Regions.AddRange(ReferenceCatalog.Regions.Select(r => new Region { Code = r.Code, NameKk = r.NameKk, NameRu = r.NameRu, NameEn = r.NameEn }));
        return Task.FromResult(response);
    }

    public Task<ListBedProfilesResponse> ListBedProfiles(ListBedProfilesRequest request, ServerCallContext context)
    {
        ContractMapping.Defined(request.AgeGroup, "age_group");
        var response = new ListBedProfilesResponse();
        response.Profiles.AddRange(ReferenceCatalog.BedProfiles
            .Where(p => request.AgeGroup == AgeGroup.Unspecified || (request.AgeGroup == AgeGroup.Child) == p.IsChild)
            .Select(p => new Contract.V1.BedProfile { Code = p.Code, NameKk = p.NameKk, NameRu = p.NameRu, NameEn = p.NameEn, AgeGroup = p.IsChild ? AgeGroup.Child : AgeGroup.Adult }));
        return Task.FromResult(response);
    }

    public Task<ListHospitalsResponse> ListHospitals(ListHospitalsRequest request, ServerCallContext context)
    {
        var pageSize = ContractMapping.PageSize(request.PageSize);
        var offset = ContractMapping.PageOffset(request.PageToken);

        // A filter that can match nothing is a mistake the caller should hear of, not an empty page.
        if (request.RegionCode.Length > 0 && !RegionCodes.Contains(request.RegionCode))
        {
            throw DomainException.Invalid("region_code", "UNKNOWN_REGION", "must be one of the 20 KATO region codes");
        }

        if (request.BedProfileCode.Length > 0 && host.Bureau.Directory.FindProfile(Identifiers.RequireCode(request.BedProfileCode, "bed_profile_code")) is null)
        {
            throw DomainException.NotFound("UNKNOWN_PROFILE", $"bed_profile_code: no bed profile {request.BedProfileCode}", "bed_profile_code");
        }

        var matching = host.Hospitals.Values
            .Where(h => request.RegionCode.Length == 0 || h.RegionCode == request.RegionCode)
            .Where(h => request.BedProfileCode.Length == 0 || h.ProfileCodes.Contains(request.BedProfileCode))
            .OrderBy(h => h.Id, StringComparer.Ordinal)
            .Skip(offset)
            .Take(pageSize + 1)
            .ToArray();
        var response = new ListHospitalsResponse
        {
            NextPageToken = matching.Length > pageSize ? ContractMapping.NextPageToken(offset, pageSize, pageSize, more: true) : "",
        };
        response.Hospitals.AddRange(matching.Take(pageSize).Select(ToProto));
        return Task.FromResult(response);
    }

    public Task<GetHospitalResponse> GetHospital(GetHospitalRequest request, ServerCallContext context)
    {
        if (!host.Hospitals.TryGetValue(Identifiers.RequireCode(request.HospitalId, "hospital_id"), out var hospital))
        {
            throw DomainException.NotFound("UNKNOWN_HOSPITAL", $"hospital_id: no hospital {request.HospitalId}", "hospital_id");
        }

        var response = new GetHospitalResponse { Hospital = ToProto(hospital) };
        var now = time.GetUtcNow();
        foreach (var profile in hospital.ProfileCodes)
        {
            response.Census.Add(ContractMapping.ToProto(profile, host.Bureau.FreeBeds.CensusOf(new BedGrainKey(hospital.Id, profile)), now, host.Bureau.Options.StaleAfter));
        }

        return Task.FromResult(response);
    }

    private static Contract.V1.Hospital ToProto(Storage.HospitalRecord h)
    {
        var hospital = new Contract.V1.Hospital { Id = h.Id, Bin = h.Bin, Name = h.Name, RegionCode = h.RegionCode, Locality = h.Locality };
        hospital.BedProfileCodes.AddRange(h.ProfileCodes);
        return hospital;
    }
}
