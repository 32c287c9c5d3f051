using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Runtime;
using BedBureau.BedGrain.Storage;

namespace BedBureau.BedGrain;

/// <summary>
/// The bureau's grains behind one door: routes each operation to the grain of its (hospital,
/// profile) or of its hospitalization code, keeps the free-bed index and the one-referral-per-
/// patient-and-profile rule, and rebuilds both from storage at start-up.
/// </summary>
public sealed class Bureau : IAsyncDisposable
{
    private readonly GrainRuntime<BedGrainKey, BedProfileGrain> _grains;
    private readonly BedGrainContext _context;

    public Bureau(
        ReferenceDirectory directory,
        IBedGrainStorage storage,
        IPersonalDataProtector protector,
        TimeProvider time,
        BedGrainOptions? options = null,
        GrainRuntimeOptions? runtimeOptions = null,
        WorkingDayCalendar? calendar = null,
        IBedGrainObserver? observer = null)
    {
        options ??= new BedGrainOptions();
        Directory = directory;
        FreeBeds = new FreeBedIndex(directory, time, options.StaleAfter);
        _context = new BedGrainContext(directory, storage, protector, PatientHolds, FreeBeds, observer, calendar ?? WorkingDayCalendar.Default, time, options);
        _grains = new GrainRuntime<BedGrainKey, BedProfileGrain>(
            (key, cancellationToken) => BedProfileGrain.ActivateAsync(key, _context, cancellationToken),
            runtimeOptions ?? new GrainRuntimeOptions(),
            time);
    }

    public ReferenceDirectory Directory { get; }

    public FreeBedIndex FreeBeds { get; }

    public PatientHolds PatientHolds { get; } = new();

    public BedGrainOptions Options => _context.Options;

    public GrainRuntime<BedGrainKey, BedProfileGrain> Grains => _grains;

    /// <summary>Rebuilds the free-bed index and the patients' active holds from storage; grains stay inactive.</summary>
    public async Task<int> RecoverAsync(CancellationToken cancellationToken)
    {
        var today = WorkingDayCalendar.LocalDate(_context.Time.GetUtcNow());
        var grains = 0;
        await foreach (var summary in _context.Storage.ReadSummariesAsync(today, cancellationToken).ConfigureAwait(false))
        {
            FreeBeds.Update(summary);
            foreach (var hold in summary.ActiveHolds)
            {
                PatientHolds.Restore(hold);
            }

            // No-shows fall due whether or not anyone calls the grain.
            if (summary.EarliestPlannedDate is { } earliest)
            {
                _grains.RemindAt(summary.Key, BedProfileGrain.NoShowAt(earliest, _context.Options));
            }

            grains++;
        }

        return grains;
    }

    /// <summary>Runs one turn of the grain of <paramref name="key"/>.</summary>
    public Task<TResult> CallAsync<TArg, TResult>(BedGrainKey key, TArg argument, Func<BedProfileGrain, TArg, Task<TResult>> call, CancellationToken cancellationToken = default)
    {
        Directory.Require(key);
        return _grains.CallAsync(key, argument, call, cancellationToken);
    }

    /// <summary>Runs one turn of the grain holding <paramref name="code"/>.</summary>
    public Task<TResult> CallByCodeAsync<TArg, TResult>(string code, TArg argument, Func<BedProfileGrain, TArg, Task<TResult>> call, CancellationToken cancellationToken = default)
    {
        var key = HospitalizationCodes.Parse(code);
        if (Directory.FindHospital(key.HospitalId) is not { } hospital || !hospital.ProfileCodes.Contains(key.ProfileCode))
        {
            throw DomainException.NotFound("REFERRAL_NOT_FOUND", $"hospitalization_code: no referral {code}");
        }

        return _grains.CallAsync(key, argument, call, cancellationToken);
    }

    public Task<BedCensus> ReportBedsAsync(BedGrainKey key, Actor actor, string requestId, BedReport report, CancellationToken cancellationToken = default) =>
        CallAsync(key, (actor, requestId, report, cancellationToken), static (grain, a) => grain.ReportBedsAsync(a.actor, a.requestId, a.report, a.cancellationToken), cancellationToken);

    public Task<IReadOnlyList<AdmissionDay>> SetAdmissionCapacityAsync(BedGrainKey key, Actor actor, string requestId, IReadOnlyList<CalendarSlots> days, CancellationToken cancellationToken = default) =>
        CallAsync(key, (actor, requestId, days, cancellationToken), static (grain, a) => grain.SetAdmissionCapacityAsync(a.actor, a.requestId, a.days, a.cancellationToken), cancellationToken);

    public Task<RegistrationResult> RegisterAsync(BedGrainKey key, RegisterReferral command, CancellationToken cancellationToken = default) =>
        CallAsync(key, (command, cancellationToken), static (grain, a) => grain.RegisterAsync(a.command, a.cancellationToken), cancellationToken);

    public Task<ReferralView> GetAsync(string code, CancellationToken cancellationToken = default) =>
        CallByCodeAsync(code, (code, cancellationToken), static (grain, a) => grain.GetAsync(a.code, a.cancellationToken), cancellationToken);

    public Task<ReferralView> GetForPatientAsync(string code, string accessKey, CancellationToken cancellationToken = default) =>
        CallByCodeAsync(code, (code, accessKey, cancellationToken), static (grain, a) => grain.GetForPatientAsync(a.code, a.accessKey, a.cancellationToken), cancellationToken);

    public Task<ReferralView> ScheduleAsync(string code, Actor actor, string requestId, DateOnly? plannedDate, string reason, CancellationToken cancellationToken = default) =>
        CallByCodeAsync(code, (code, actor, requestId, plannedDate, reason, cancellationToken), static (grain, a) => grain.ScheduleAsync(a.actor, a.requestId, a.code, a.plannedDate, a.reason, a.cancellationToken), cancellationToken);

    public Task<ReferralView> RescheduleAsync(string code, Actor actor, string requestId, DateOnly plannedDate, string reason, CancellationToken cancellationToken = default) =>
        CallByCodeAsync(code, (code, actor, requestId, plannedDate, reason, cancellationToken), static (grain, a) => grain.RescheduleAsync(a.actor, a.requestId, a.code, a.plannedDate, a.reason, a.cancellationToken), cancellationToken);

    public Task<ReferralView> AdmitAsync(string code, Actor actor, string requestId, DateTimeOffset? admittedAt, CancellationToken cancellationToken = default) =>
        CallByCodeAsync(code, (code, actor, requestId, admittedAt, cancellationToken), static (grain, a) => grain.AdmitAsync(a.actor, a.requestId, a.code, a.admittedAt, a.cancellationToken), cancellationToken);

    public Task<ReferralView> RefuseAsync(string code, Actor actor, string requestId, RefusalReason reason, string text, CancellationToken cancellationToken = default) =>
        CallByCodeAsync(code, (code, actor, requestId, reason, text, cancellationToken), static (grain, a) => grain.RefuseAsync(a.actor, a.requestId, a.code, a.reason, a.text, a.cancellationToken), cancellationToken);

    public Task<ReferralView> CancelAsync(string code, Actor actor, string requestId, CancellationReason reason, string text, CancellationToken cancellationToken = default) =>
        CallByCodeAsync(code, (code, actor, requestId, reason, text, cancellationToken), static (grain, a) => grain.CancelAsync(a.actor, a.requestId, a.code, a.reason, a.text, a.cancellationToken), cancellationToken);

    public ValueTask DisposeAsync() => _grains.DisposeAsync();
}
