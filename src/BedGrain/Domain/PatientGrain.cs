using BedBureau.BedGrain.Runtime;
using BedBureau.BedGrain.Storage;

namespace BedBureau.BedGrain.Domain;

/// <summary>A patient grain's key: the keyed hash of the IIN (never the IIN) and a bed profile.</summary>
public readonly record struct PatientGrainKey(string PatientKey, string ProfileCode)
{
    // Logs and errors show a prefix of the hash only.
    public override string ToString() => $"{PatientKey[..Math.Min(8, PatientKey.Length)]}/{ProfileCode}";
}

/// <summary>
/// The patient's one registration for a profile: the request that made it and, once the bed
/// grain answered, its code. A hold without a code is a registration in flight (or interrupted):
/// the bed grain's idempotency record of that request says whether it produced a referral.
/// </summary>
public sealed record PatientHoldState(BedGrainKey Grain, string ActorOrganizationId, string RequestId, string? HospitalizationCode, DateTimeOffset At);

/// <summary>What a patient grain asks of the bed grains (a bed grain never calls a patient grain: no cycle, no deadlock).</summary>
internal interface IBedGrainsForPatients
{
    Task<RegistrationResult> RegisterAsync(BedGrainKey grain, RegisterReferral command, CancellationToken cancellationToken);

    /// <summary>The hold's code when its referral is still active, else null.</summary>
    Task<string?> ActiveCodeAsync(PatientHoldState hold, CancellationToken cancellationToken);

    /// <summary>Whether <paramref name="grain"/> remembers this request as one that registered a referral.</summary>
    Task<bool> RegisteredAsync(BedGrainKey grain, string actorOrganizationId, string requestId, CancellationToken cancellationToken);
}

/// <summary>
/// One patient and one bed profile: the rule that a patient holds at most one active referral
/// per profile across all hospitals, durable and exact across nodes. Registration goes through
/// it: it checks its hold lazily with the bed grain (the referral may have ended since), records
/// the request before the bed grain reserves (compare-and-set: a second activation elsewhere
/// cannot also proceed), then records the code.
/// </summary>
internal sealed class PatientGrain : IGrain
{
    private readonly PatientGrainKey _key;
    private readonly IPatientGrainStorage _storage;
    private readonly TimeProvider _time;
    private long _version;
    private PatientHoldState? _hold;

    /// <summary>
    /// How long a registration of a patient may be in flight (recorded here, not yet reserved by
    /// its bed grain) before another registration of the patient fences it off. The gateway's
    /// registrations take milliseconds; this is for a node lost mid-way.
    /// </summary>
    internal static readonly TimeSpan InFlight = TimeSpan.FromSeconds(10);

    // This activation's memory is not to be trusted (never read, or a write's outcome unknown):
    // read the row before relying on it.
    private bool _stale;

    private PatientGrain(PatientGrainKey key, IPatientGrainStorage storage, TimeProvider time)
    {
        _key = key;
        _storage = storage;
        _time = time;
    }

    public DateTimeOffset? NextWakeUp => null;

    public Task WakeUpAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Activates without reading: most registrations are a patient's first for the profile, and
    /// their first write (an insert, which fails if the row exists) tells as much as a read would.
    /// </summary>
    public static Task<PatientGrain> ActivateAsync(PatientGrainKey key, IPatientGrainStorage storage, TimeProvider time) =>
        Task.FromResult(new PatientGrain(key, storage, time) { _stale = true });

    public async Task<RegistrationResult> RegisterAsync(BedGrainKey grain, RegisterReferral command, IBedGrainsForPatients beds, CancellationToken cancellationToken)
    {
        var request = new PatientHoldState(grain, command.Actor.OrganizationId, command.RequestId, null, _time.GetUtcNow());
        if (!(_stale && _version == 0 && await TryCreateAsync(request, cancellationToken).ConfigureAwait(false))
            && !await HoldAsync(request, beds, cancellationToken).ConfigureAwait(false))
        {
            // A late retry of the patient's earlier registration: its first result, as any retry
            // gets; the hold stays on the referral the patient holds now.
            return await beds.RegisterAsync(grain, command, cancellationToken).ConfigureAwait(false);
        }

        RegistrationResult result;
        try
        {
            result = await beds.RegisterAsync(grain, command, cancellationToken).ConfigureAwait(false);
        }
        catch (DomainException)
        {
            // Refused: nothing is held. Should this write fail, the hold resolves lazily to no referral.
            await TryCommitAsync(null, cancellationToken).ConfigureAwait(false);
            throw;
        }

        var code = result.View.Referral.HospitalizationCode;
        if (_hold?.HospitalizationCode != code)
        {
            // The referral exists and is acknowledged: if recording its code fails, the hold
            // without a code still resolves to it through the request id.
            await TryCommitAsync(_hold! with { HospitalizationCode = code }, cancellationToken).ConfigureAwait(false);
        }

        return result;
    }

    /// <summary>
    /// Records <paramref name="request"/> unless the patient holds an active referral (a retry of
    /// the same request holds already); false for a request that registered an earlier referral
    /// of this patient, which holds nothing now.
    /// </summary>
    private async Task<bool> HoldAsync(PatientHoldState request, IBedGrainsForPatients beds, CancellationToken cancellationToken)
    {
        if (_stale)
        {
            await ReloadAsync(cancellationToken).ConfigureAwait(false);
        }

        var hold = _hold;
        var retry = hold is not null && hold.Grain == request.Grain && hold.ActorOrganizationId == request.ActorOrganizationId && hold.RequestId == request.RequestId;
        if (hold is { HospitalizationCode: null } && !retry && _time.GetUtcNow() - hold.At < InFlight
            && !await beds.RegisteredAsync(hold.Grain, hold.ActorOrganizationId, hold.RequestId, cancellationToken).ConfigureAwait(false))
        {
            // Another registration of this patient holds the row and its bed grain does not know
            // it yet: in flight on another node, or lost with it. Fenced now, it could fail while
            // this one is fenced by its own retry: neither would be accepted. The caller retries
            // (ABORTED); past InFlight the request is fenced off.
            throw new StorageConflictException($"{_key.ProfileCode}: another registration of this patient for the profile is in flight");
        }

        if (hold is not null && !retry && await beds.ActiveCodeAsync(hold, cancellationToken).ConfigureAwait(false) is { } active)
        {
            if (await beds.RegisteredAsync(request.Grain, request.ActorOrganizationId, request.RequestId, cancellationToken).ConfigureAwait(false))
            {
                return false;
            }

            // The existing code is told only to the polyclinic that holds it.
            var message = hold.ActorOrganizationId == request.ActorOrganizationId
                ? $"patient_iin: the patient already holds active referral {active} for profile {_key.ProfileCode}"
                : $"patient_iin: the patient already holds an active referral for profile {_key.ProfileCode} from another polyclinic";
            throw new DomainException(DomainErrorKind.AlreadyExists, "ACTIVE_REFERRAL_EXISTS", message, "patient_iin");
        }

        if (!retry)
        {
            await CommitAsync(request, cancellationToken).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>The first write of an activation that has not read: true if it created the patient's row, false if a row exists.</summary>
    private async Task<bool> TryCreateAsync(PatientHoldState request, CancellationToken cancellationToken)
    {
        try
        {
            await CommitAsync(request, cancellationToken).ConfigureAwait(false);
            _stale = false;
            return true;
        }
        catch (StorageConflictException)
        {
            return false;
        }
    }

    private async Task CommitAsync(PatientHoldState? hold, CancellationToken cancellationToken)
    {
        await _storage.CommitAsync(_key, _version, hold, cancellationToken).ConfigureAwait(false);
        _version++;
        _hold = hold;
    }

    private async Task TryCommitAsync(PatientHoldState? hold, CancellationToken cancellationToken)
    {
        try
        {
            await CommitAsync(hold, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Reload before the next registration rather than trust this activation's memory.
            _stale = true;
        }
    }

    private async Task ReloadAsync(CancellationToken cancellationToken)
    {
        var snapshot = await _storage.LoadAsync(_key, cancellationToken).ConfigureAwait(false);
        (_version, _hold, _stale) = (snapshot?.Version ?? 0, snapshot?.Hold, false);
    }
}
