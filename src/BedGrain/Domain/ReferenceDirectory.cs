namespace BedBureau.BedGrain.Domain;

/// <summary>A bed profile of the national list: adult and child profiles are separate codes.</summary>
public sealed record BedProfile(string Code, bool IsChild, string Name);

/// <summary>A hospital and the bed profiles it offers.</summary>
public sealed record Hospital(string Id, string Name, string RegionCode, IReadOnlySet<string> ProfileCodes);

/// <summary>The reference data grains validate against; the gateway loads it from storage.</summary>
public sealed class ReferenceDirectory
{
    private readonly Dictionary<string, Hospital> _hospitals;
    private readonly Dictionary<string, BedProfile> _profiles;

    public ReferenceDirectory(IEnumerable<Hospital> hospitals, IEnumerable<BedProfile> profiles)
    {
        _hospitals = hospitals.ToDictionary(h => h.Id, StringComparer.Ordinal);
        _profiles = profiles.ToDictionary(p => p.Code, StringComparer.Ordinal);
    }

    public IReadOnlyCollection<Hospital> Hospitals => _hospitals.Values;

    public IReadOnlyCollection<BedProfile> Profiles => _profiles.Values;

    public Hospital? FindHospital(string id) => _hospitals.GetValueOrDefault(id);

    public BedProfile? FindProfile(string code) => _profiles.GetValueOrDefault(code);

    /// <summary>The grain's hospital and profile, or NOT_FOUND naming which is unknown or not offered.</summary>
    public (Hospital Hospital, BedProfile Profile) Require(BedGrainKey key)
    {
        var hospital = FindHospital(key.HospitalId)
            ?? throw DomainException.NotFound("UNKNOWN_HOSPITAL", $"hospital_id: no hospital {key.HospitalId}", "hospital_id");
        var profile = FindProfile(key.ProfileCode)
            ?? throw DomainException.NotFound("UNKNOWN_PROFILE", $"bed_profile_code: no bed profile {key.ProfileCode}", "bed_profile_code");
        if (!hospital.ProfileCodes.Contains(key.ProfileCode))
        {
            throw DomainException.NotFound("PROFILE_NOT_OFFERED", $"bed_profile_code: hospital {key.HospitalId} has no {key.ProfileCode} beds", "bed_profile_code");
        }

        return (hospital, profile);
    }
}
