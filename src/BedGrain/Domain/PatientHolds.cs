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

    // Holds whose referral's last write failed without a clear outcome (the connection lost at
    // commit), by code: kept, so that nobody takes the patient meanwhile, until the grain's
    // referrals are loaded again and show whether the referral is active.
    private readonly ConcurrentDictionary<string, (BedGrainKey Grain, PatientHold Hold)> _unsettled = new(StringComparer.Ordinal);

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

    /// <summary>Whether <paramref name="hold"/> waits for its grain to show whether its referral is active.</summary>
    public bool IsUnsettled(PatientHold hold) => !_unsettled.IsEmpty && _unsettled.ContainsKey(hold.HospitalizationCode);

    public bool HasUnsettled(BedGrainKey grain) => !_unsettled.IsEmpty && _unsettled.Values.Any(u => u.Grain == grain);

    /// <summary>Keeps the hold of <paramref name="hospitalizationCode"/>, if it is the patient's, until <see cref="Settle"/>.</summary>
    public void Unsettle(BedGrainKey grain, string patientKey, string profileCode, string hospitalizationCode)
    {
        if (_holds.TryGetValue((patientKey, profileCode), out var hold) && hold.HospitalizationCode == hospitalizationCode)
        {
            _unsettled[hospitalizationCode] = (grain, hold);
        }
    }

    /// <summary>Settles the unsettled holds of <paramref name="grain"/>, its referrals loaded: kept for an active referral, else released.</summary>
    public void Settle(BedGrainKey grain, Func<string, bool> isActive)
    {
        foreach (var (code, (of, hold)) in _unsettled)
        {
            if (of == grain && _unsettled.TryRemove(code, out _) && !isActive(code))
            {
                Release(hold.PatientKey, hold.ProfileCode, code);
            }
        }
    }
}
