using System.Collections.Concurrent;
using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Storage;

namespace BedBureau.Gateway.Storage;

/// <summary>
/// Loaded grain state with its repeated texts shared. Each referral read from storage comes
/// back with its own copies of the hospital, profile, polyclinic, ICD-10 code, region, status
/// reason and, per event, the code, action, reason and actor again: with the national dataset
/// (300,000 referrals) those copies were about a quarter of the heap once every grain was
/// active. One instance of each is kept instead, so memory grows with what is distinct.
/// </summary>
internal sealed class SharedStrings(int capacity = 100_000, int maxLength = 64)
{
    private readonly ConcurrentDictionary<string, string> _strings = new(StringComparer.Ordinal);
    private int _count;

    /// <summary>
    /// The shared instance equal to <paramref name="text"/>. Long texts, and any text once the
    /// pool is full, come back as they are: caller-chosen texts (reasons, localities) cannot
    /// grow the pool without bound.
    /// </summary>
    public string Share(string text)
    {
        if (text.Length == 0)
        {
            return string.Empty;
        }

        if (text.Length > maxLength)
        {
            return text;
        }

        if (_strings.TryGetValue(text, out var shared))
        {
            return shared;
        }

        if (Volatile.Read(ref _count) >= capacity)
        {
            return text;
        }

        shared = _strings.GetOrAdd(text, text);
        if (ReferenceEquals(shared, text))
        {
            Interlocked.Increment(ref _count);
        }

        return shared;
    }

    /// <summary>The referral with its texts shared; the grain's key supplies hospital and profile.</summary>
    public Referral Share(BedGrainKey key, Referral referral)
    {
        var code = referral.HospitalizationCode;
        var history = new ReferralEvent[referral.History.Count];
        for (var i = 0; i < history.Length; i++)
        {
            var e = referral.History[i];
            history[i] = e with
            {
                HospitalizationCode = e.HospitalizationCode == code ? code : e.HospitalizationCode,
                Action = Share(e.Action),
                Reason = Share(e.Reason),
                ActorOrganizationId = Share(e.ActorOrganizationId),
            };
        }

        return referral with
        {
            HospitalId = referral.HospitalId == key.HospitalId ? key.HospitalId : referral.HospitalId,
            ProfileCode = referral.ProfileCode == key.ProfileCode ? key.ProfileCode : referral.ProfileCode,
            ReferringOrganizationId = Share(referral.ReferringOrganizationId),
            Icd10Code = Share(referral.Icd10Code),
            PatientLocality = Share(referral.PatientLocality),
            PatientRegionCode = Share(referral.PatientRegionCode),
            StatusReason = Share(referral.StatusReason),
            History = history,
        };
    }

    /// <summary>The record with its operation shared and its code the referral's own instance when it names one.</summary>
    public IdempotencyRecord Share(IdempotencyRecord record, IReadOnlyDictionary<string, Referral> referrals) => record with
    {
        Operation = Share(record.Operation),
        HospitalizationCode = record.HospitalizationCode.Length == 0 ? string.Empty
            : referrals.TryGetValue(record.HospitalizationCode, out var referral) ? referral.HospitalizationCode : record.HospitalizationCode,
    };
}
