using System.Collections.Concurrent;
using BedBureau.BedGrain.Storage;

namespace BedBureau.BedGrain.Domain;

/// <summary>
/// The rule that one patient holds at most one active referral per profile, across all
/// hospitals: a process-wide claim per (patient, profile), taken inside the registering grain's
/// turn before its commit and released when the referral ends. Rebuilt from storage at start-up.
/// </summary>
public sealed class PatientHolds
{
    private readonly ConcurrentDictionary<(string PatientKey, string ProfileCode), PatientHold> _holds = new();

    public int Count => _holds.Count;

    /// <summary>Claims the (patient, profile); returns the existing hold when another referral has it.</summary>
    public PatientHold? TryClaim(PatientHold hold)
    {
        var existing = _holds.GetOrAdd((hold.PatientKey, hold.ProfileCode), hold);
        return existing.HospitalizationCode == hold.HospitalizationCode ? null : existing;
    }

    public void Release(string patientKey, string profileCode, string hospitalizationCode)
    {
        var key = (patientKey, profileCode);
        if (_holds.TryGetValue(key, out var hold) && hold.HospitalizationCode == hospitalizationCode)
        {
            _holds.TryRemove(new KeyValuePair<(string, string), PatientHold>(key, hold));
        }
    }

    public void Restore(PatientHold hold) => _holds[(hold.PatientKey, hold.ProfileCode)] = hold;
}
