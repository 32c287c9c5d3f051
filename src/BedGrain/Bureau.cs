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
    private readonly GrainRuntime<PatientGrainKey, PatientGrain>? _patients;
    private readonly BedGrainContext _context;

    public Bureau(
        ReferenceDirectory directory,
        IBedGrainStorage storage,
        IPersonalDataProtector protector,
        TimeProvider time,
        BedGrainOptions? options = null,
        GrainRuntimeOptions? runtimeOptions = null,
        WorkingDayCalendar? calendar = null,
        IBedGrainObserver? observer = null,
        IPatientGrainStorage? patientStorage = null)
    {
        options ??= new BedGrainOptions();
        Directory = directory;
        FreeBeds = new FreeBedIndex(directory, time, options.StaleAfter);

        // Never both: another node's process-wide holds would refuse a patient whose referral
        // ended there, and nothing would ever tell this node.
        _context = new BedGrainContext(directory, storage, protector, patientStorage is null ? PatientHolds : null, FreeBeds, observer, calendar ?? WorkingDayCalendar.Default, time, options);
        _grains = new GrainRuntime<BedGrainKey, BedProfileGrain>(
            (key, cancellationToken) => BedProfileGrain.ActivateAsync(key, _context, cancellationToken),
            runtimeOptions ?? new GrainRuntimeOptions(),
            time);

        // With a patient storage the one-referral-per-patient-and-profile rule is durable and
        // holds across nodes; without one it is the process-wide PatientHolds (a single node).
        if (patientStorage is not null)
        {
            // A patient grain has nothing to let go of and stay: it leaves memory when an idle
            // bed grain would be trimmed.
            var patientOptions = runtimeOptions ?? new GrainRuntimeOptions();
            patientOptions = patientOptions with { IdleTimeout = patientOptions.TrimAfter ?? patientOptions.IdleTimeout, TrimAfter = null };
            _patients = new GrainRuntime<PatientGrainKey, PatientGrain>(
                (key, cancellationToken) => PatientGrain.ActivateAsync(key, patientStorage, time),
                patientOptions,
                time);
            _bedsForPatients = new BedGrainsForPatients(this);
        }
    }

    private readonly BedGrainsForPatients? _bedsForPatients;

    public ReferenceDirectory Directory { get; }

    public FreeBedIndex FreeBeds { get; }

    /// <summary>The process-wide patient rule; empty when the rule is the patient grains' (<see cref="IsPatientRuleDurable"/>).</summary>
    public PatientHolds PatientHolds { get; } = new();

    /// <summary>True when registrations go through patient grains on a patient storage.</summary>
    public bool IsPatientRuleDurable => _patients is not null;

    public BedGrainOptions Options => _context.Options;

    public GrainRuntime<BedGrainKey, BedProfileGrain> Grains => _grains;

    /// <summary>The patients' grains, when registrations go through a patient storage.</summary>
    public IGrainRuntimeStatistics? Patients => _patients;

    /// <summary>
    /// Rebuilds the free-bed index and, when the patient rule is in-process, the patients'
    /// active holds from storage; grains stay inactive. Durable patient grains need nothing
    /// rebuilt: each checks its stored hold with its bed grain when next called.
    /// </summary>
    public async Task<int> RecoverAsync(CancellationToken cancellationToken)
    {
        var today = WorkingDayCalendar.LocalDate(_context.Time.GetUtcNow());
        var grains = 0;
        var wakeUps = new List<(BedGrainKey Key, DateTimeOffset At)>();
        await foreach (var summary in _context.Storage.ReadSummariesAsync(today, cancellationToken).ConfigureAwait(false))
        {
            FreeBeds.Update(summary);
            foreach (var hold in _context.PatientHolds is null ? [] : summary.ActiveHolds)
            {
                PatientHolds.Restore(hold);
            }

            // No-shows fall due whether or not anyone calls the grain.
            if (summary.EarliestPlannedDate is { } earliest)
            {
                wakeUps.Add((summary.Key, BedProfileGrain.NoShowAt(earliest, _context.Options)));
            }

            grains++;
        }

        // Once the index is whole: after days down, most grains have no-shows due at once, and
        // their activations would hold the recovery (and the start) back.
        foreach (var (key, at) in wakeUps)
        {
            _grains.RemindAt(key, at);
        }

        return grains;
    }

    /// <summary>
    /// Another node committed <paramref name="key"/>'s grain at <paramref name="version"/>: this
    /// node's older activation catches up from storage (<see cref="BedProfileGrain.CatchUpAsync"/>),
    /// or the grain is activated, which brings the free-bed index up to date.
    /// </summary>
    public async Task RefreshAsync(BedGrainKey key, long version, CancellationToken cancellationToken = default)
    {
        await _grains.ReplaceIfAsync(key, grain => grain.Version < version, static (grain, ct) => grain.CatchUpAsync(ct), cancellationToken).ConfigureAwait(false);
        await CallAsync(key, 0, static (grain, _) => Task.FromResult(grain.Version), cancellationToken).ConfigureAwait(false);
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
            throw DomainException.NotFound("REFERRAL_NOT_FOUND", $"hospitalization_code: no referral {code}", "hospitalization_code");
        }

        return _grains.CallAsync(key, argument, call, cancellationToken);
    }

    public Task<BedCensus> ReportBedsAsync(BedGrainKey key, Actor actor, string requestId, BedReport report, CancellationToken cancellationToken = default) =>
        CallAsync(key, (actor, requestId, report, cancellationToken), static (grain, a) => grain.ReportBedsAsync(a.actor, a.requestId, a.report, a.cancellationToken), cancellationToken);

    /// <summary>Whether the grain would refuse <paramref name="report"/> as STALE_REPORT now (a report committed after this answer may change that).</summary>
    public Task<bool> IsStaleReportAsync(BedGrainKey key, Actor actor, string requestId, BedReport report, CancellationToken cancellationToken = default) =>
        CallAsync(key, (actor, requestId, report), static (grain, a) => Task.FromResult(grain.IsStaleReport(a.actor, a.requestId, a.report)), cancellationToken);

    public Task<IReadOnlyList<AdmissionDay>> SetAdmissionCapacityAsync(BedGrainKey key, Actor actor, string requestId, IReadOnlyList<CalendarSlots> days, CancellationToken cancellationToken = default) =>
        CallAsync(key, (actor, requestId, days, cancellationToken), static (grain, a) => grain.SetAdmissionCapacityAsync(a.actor, a.requestId, a.days, a.cancellationToken), cancellationToken);

    /// <summary>Registers a referral: through the patient's grain when the rule is durable, else straight to the bed grain.</summary>
    public Task<RegistrationResult> RegisterAsync(BedGrainKey key, RegisterReferral command, CancellationToken cancellationToken = default)
    {
        if (_patients is null)
        {
            return ReserveAsync(key, command, cancellationToken);
        }

        // Checked here too so that a malformed request never reaches (nor writes) a patient grain.
        Directory.Require(key);
        if (command.Actor.Role != ActorRole.Polyclinic)
        {
            throw new DomainException(DomainErrorKind.PermissionDenied, "POLYCLINICS_ONLY", "Only a polyclinic registers referrals.");
        }

        Identifiers.ParseIin(command.PatientIin);
        var patient = new PatientGrainKey(_context.Protector.Hash(command.PatientIin), key.ProfileCode);
        return _patients.CallAsync(patient, (key, command, beds: _bedsForPatients!, cancellationToken),
            static (grain, a) => grain.RegisterAsync(a.key, a.command, a.beds, a.cancellationToken), cancellationToken);
    }

    private Task<RegistrationResult> ReserveAsync(BedGrainKey key, RegisterReferral command, CancellationToken cancellationToken) =>
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

    /// <summary>The patient cancels with the coupon's code and access key, as <see cref="Actor.Patient"/>.</summary>
    public Task<ReferralView> CancelByPatientAsync(string code, string accessKey, string requestId, CancellationReason reason, string text, CancellationToken cancellationToken = default) =>
        CallByCodeAsync(code, (code, accessKey, requestId, reason, text, cancellationToken), static (grain, a) => grain.CancelByPatientAsync(a.requestId, a.code, a.accessKey, a.reason, a.text, a.cancellationToken), cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _grains.DisposeAsync().ConfigureAwait(false);
        if (_patients is not null)
        {
            await _patients.DisposeAsync().ConfigureAwait(false);
        }
    }

    private sealed class BedGrainsForPatients(Bureau bureau) : IBedGrainsForPatients
    {
        public Task<RegistrationResult> RegisterAsync(BedGrainKey grain, RegisterReferral command, CancellationToken cancellationToken) =>
            bureau.ReserveAsync(grain, command, cancellationToken);

        public async Task<string?> ActiveCodeAsync(PatientHoldState hold, CancellationToken cancellationToken)
        {
            var code = hold.HospitalizationCode;
            for (var attempt = 1; code is null; attempt++)
            {
                try
                {
                    code = await bureau.CallAsync(hold.Grain, (hold, cancellationToken),
                        static (grain, a) => grain.ResolveRegistrationAsync(a.hold.ActorOrganizationId, a.hold.RequestId, a.cancellationToken), cancellationToken).ConfigureAwait(false);
                    if (code is null)
                    {
                        return null;
                    }
                }
                catch (StorageConflictException) when (attempt < 2)
                {
                    // Once more on fresh state: a stale activation cannot fence the request.
                }
            }

            // A stale activation answers nothing: the runtime asks a fresh one, and past its
            // runs the conflict goes to the caller (ABORTED: retry) rather than let the patient
            // through on a guess.
            return await bureau.CallByCodeAsync(code, (code, cancellationToken),
                static (grain, a) => grain.IsActiveAsync(a.code, a.cancellationToken), cancellationToken).ConfigureAwait(false) ? code : null;
        }

        public Task<bool> RegisteredAsync(BedGrainKey grain, string actorOrganizationId, string requestId, CancellationToken cancellationToken) =>
            bureau.CallAsync(grain, (actorOrganizationId, requestId, cancellationToken),
                static (g, a) => g.RegisteredAsync(a.actorOrganizationId, a.requestId, a.cancellationToken), cancellationToken);
    }
}
