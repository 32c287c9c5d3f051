using BedBureau.BedGrain.Runtime;
using BedBureau.BedGrain.Storage;

namespace BedBureau.BedGrain.Domain;

/// <summary>What every bed grain shares: reference data, ports, time and rules.</summary>
/// <param name="PatientHolds">The process-wide patient rule, or null when patient grains keep it (durable, across nodes).</param>
public sealed record BedGrainContext(
    ReferenceDirectory Directory,
    IBedGrainStorage Storage,
    IPersonalDataProtector Protector,
    PatientHolds? PatientHolds,
    FreeBedIndex FreeBeds,
    IBedGrainObserver? Observer,
    WorkingDayCalendar Calendar,
    TimeProvider Time,
    BedGrainOptions Options);

/// <summary>
/// One hospital's offer of one bed profile: the live bed census, the admission calendar, and
/// the queue of referrals holding its slots. Runs one call at a time (see GrainRuntime); every
/// change is committed through the storage port before memory changes, so a failed write
/// leaves the grain as it was.
/// </summary>
public sealed class BedProfileGrain : IGrain
{
    private readonly BedGrainKey _key;
    private readonly BedGrainContext _context;
    private readonly Dictionary<DateOnly, int> _slots = [];
    private readonly Dictionary<DateOnly, int> _reserved = [];
    private Dictionary<string, CompactReferral> _referrals = new(StringComparer.Ordinal);
    private Dictionary<long, CompactReferral> _activeBySequence = [];
    private QueueIndex _queue = new();
    private readonly FreeBedIndex.Entry? _index;
    private readonly Dictionary<string, IdempotencyRecord> _idempotency = new(StringComparer.Ordinal);
    private readonly Queue<IdempotencyRecord> _idempotencyByAge = new();
    private long _version;
    private BedCensus? _census;
    private long _nextCodeSequence = 1;
    private long _nextEventSequence = 1;

    // Until the first referral operation the referrals stay in storage (see BedGrainSnapshot):
    // meanwhile the snapshot's reservations per date give the queue's length and first date.
    private bool _referralsLoaded;

    private BedProfileGrain(BedGrainKey key, BedGrainContext context)
    {
        _key = key;
        _context = context;
        _index = context.FreeBeds.EntryOf(key);
    }

    public BedGrainKey Key => _key;

    public long Version => _version;

    private DateTimeOffset Now => _context.Time.GetUtcNow();

    private DateOnly Today => WorkingDayCalendar.LocalDate(Now);

    /// <summary>Activation: loads the state but the referrals through the storage port (a grain never stored starts empty).</summary>
    public static async Task<BedProfileGrain> ActivateAsync(BedGrainKey key, BedGrainContext context, CancellationToken cancellationToken)
    {
        context.Directory.Require(key);
        var grain = new BedProfileGrain(key, context);
        var snapshot = await context.Storage.LoadAsync(key, context.Time.GetUtcNow() - context.Options.IdempotencyRetention, cancellationToken).ConfigureAwait(false);
        grain._referralsLoaded = snapshot is null;
        if (snapshot is not null)
        {
            grain._version = snapshot.Version;
            grain._census = snapshot.Census;
            grain._nextCodeSequence = snapshot.NextCodeSequence;
            grain._nextEventSequence = snapshot.NextEventSequence;
            foreach (var day in snapshot.Calendar)
            {
                grain._slots[day.Date] = day.Slots;
            }

            foreach (var (date, active) in snapshot.ActiveByDate)
            {
                grain._reserved[date] = active;
            }

            foreach (var record in snapshot.Idempotency.OrderBy(r => r.CreatedAt))
            {
                grain.Remember(record);
            }

            grain.ForgetExpiredRequests();

            if (grain._index is { } index)
            {
                index.Census = grain._census;
                index.QueueLength = grain.QueueLength;
                foreach (var day in snapshot.Calendar)
                {
                    grain.Reindex(day.Date);
                }
            }
        }

        // An earlier activation's write failed without a clear outcome and left patients' holds
        // waiting on what storage has: the referrals tell.
        if (context.PatientHolds?.HasUnsettled(key) == true)
        {
            await grain.SettleHoldsAsync(cancellationToken).ConfigureAwait(false);
        }

        return grain;
    }

    // A write failed without a clear outcome (the connection lost at commit): this activation's
    // memory may be behind storage. Reads go on from memory; the next write, or a wake-up at
    // _recheckAt, first reads the stored version (RecheckAsync).
    private bool _doubtful;
    private DateTimeOffset _recheckAt;

    internal static readonly TimeSpan RecheckAfter = TimeSpan.FromMinutes(1);

    public DateTimeOffset? NextWakeUp
    {
        get
        {
            var noShows = (_referralsLoaded ? _queue.FirstDate : FirstReservedDate()) is { } first ? NoShowAt(first) : (DateTimeOffset?)null;
            return _doubtful && !(noShows < _recheckAt) ? _recheckAt : noShows;
        }
    }

    // Asked after every turn (the runtime arms the wake-up): a loop, not a query that allocates.
    private DateOnly? FirstReservedDate()
    {
        DateOnly? first = null;
        foreach (var (date, active) in _reserved)
        {
            if (active > 0 && !(first <= date))
            {
                first = date;
            }
        }

        return first;
    }

    /// <summary>Loads the referrals on the grain's first referral operation; a no-op afterwards.</summary>
    private ValueTask EnsureReferralsAsync(CancellationToken cancellationToken) =>
        _referralsLoaded ? ValueTask.CompletedTask : LoadReferralsAsync(cancellationToken);

    private async ValueTask LoadReferralsAsync(CancellationToken cancellationToken)
    {
        BedGrainReferrals loaded;
        try
        {
            loaded = await _context.Storage.LoadReferralsAsync(_key, _version, cancellationToken).ConfigureAwait(false);
        }
        catch (StorageConflictException ex)
        {
            // Another activation committed since this one loaded, and nothing was changed yet:
            // the runtime runs the turn again on a fresh activation.
            throw new StaleActivationException(ex.Message);
        }

        TakeReferrals(loaded);
    }

    /// <param name="earlier">The activation whose referrals these follow on from: they are taken over, then changed by these.</param>
    private void TakeReferrals(BedGrainReferrals loaded, BedProfileGrain? earlier = null)
    {
        // The referrals themselves now count the reservations the snapshot summed up.
        _reserved.Clear();
        if (earlier is not null)
        {
            (_referrals, _activeBySequence, _queue) = (earlier._referrals, earlier._activeBySequence, earlier._queue);
            foreach (var (date, active) in earlier._reserved)
            {
                _reserved[date] = active;
            }
        }

        foreach (var referral in loaded.Referrals)
        {
            // A hold follows what storage has: an earlier activation may have missed the end.
            ApplyReferral(referral, releaseHold: true);
            if (referral.Status.IsActive())
            {
                _context.PatientHolds?.Restore(new PatientHold(referral.PatientKey, referral.ProfileCode, referral.HospitalizationCode, referral.ReferringOrganizationId));
            }
        }

        foreach (var record in loaded.Registrations)
        {
            _idempotency[record.Key] = record;
        }

        _referralsLoaded = true;
        SettleHolds();
    }

    private void SettleHolds() =>
        _context.PatientHolds?.Settle(_key, code => _referrals.TryGetValue(code, out var referral) && referral.Status.IsActive());

    /// <summary>Settles the holds by the referrals, loading them first if need be (which settles).</summary>
    private ValueTask SettleHoldsAsync(CancellationToken cancellationToken)
    {
        if (!_referralsLoaded)
        {
            return LoadReferralsAsync(cancellationToken);
        }

        SettleHolds();
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// This grain as another node's commits left it, to replace this activation: a fresh
    /// activation that carries this one's referrals over and reads only those changed since
    /// (with the registration records, which tell retries their first result), so that a grain
    /// written through several nodes in turn does not read its whole queue after each commit.
    /// Should the grain move on again meanwhile, the fresh activation loads its referrals at its
    /// next referral operation, as any.
    /// </summary>
    public async Task<BedProfileGrain> CatchUpAsync(CancellationToken cancellationToken)
    {
        var next = await ActivateAsync(_key, _context, cancellationToken).ConfigureAwait(false);
        if (!_referralsLoaded || next._referralsLoaded)
        {
            return next;
        }

        BedGrainReferrals changes;
        try
        {
            changes = await _context.Storage.LoadReferralChangesAsync(_key, next._version, LastEventSequence, cancellationToken).ConfigureAwait(false);
        }
        catch (StorageConflictException)
        {
            return next;
        }

        // Every change of a referral comes with an event: those after this activation's last one
        // are the changes. This activation is dropped: its referrals move to the next one.
        next.TakeReferrals(changes, earlier: this);
        return next;
    }

    /// <summary>
    /// Lets go of the referrals, the bulk of a grain's memory, until its next referral operation
    /// loads them again, and of the request ids past their retention; the census, calendar,
    /// reservations per date, version and recent request ids stay, so a hospital's next report
    /// needs no load. The daily reporting hour then finds its grains active, however long the
    /// day was.
    /// </summary>
    public bool Trim()
    {
        ForgetExpiredRequests();

        // A grain never stored has nothing to load again: it keeps its (empty or new) referrals.
        if (!_referralsLoaded || _version == 0)
        {
            return false;
        }

        _referrals = new(StringComparer.Ordinal);
        _activeBySequence = [];
        _queue = new();
        foreach (var (key, record) in _idempotency)
        {
            if (record.IsRegistration)
            {
                _idempotency.Remove(key); // loaded again with the referrals
            }
        }

        _idempotency.TrimExcess();
        _referralsLoaded = false;
        return true;
    }

    public async Task WakeUpAsync(CancellationToken cancellationToken)
    {
        if (_doubtful && _recheckAt <= Now)
        {
            await RecheckAsync(cancellationToken).ConfigureAwait(false);
        }

        await ExpireNoShowsAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// After a write of unclear outcome: if storage has moved past this activation (the write was
    /// made), the runtime runs the turn again on a fresh activation, which reads what storage has;
    /// else the write was not made, memory is right, and the holds it left waiting are settled.
    /// </summary>
    private async Task RecheckAsync(CancellationToken cancellationToken)
    {
        _recheckAt = Now + RecheckAfter; // should the read fail, the next try waits again
        var stored = await _context.Storage.LoadAsync(_key, DateTimeOffset.MaxValue, cancellationToken).ConfigureAwait(false);
        if ((stored?.Version ?? 0) != _version)
        {
            throw new StaleActivationException($"{_key}: a write of unclear outcome was stored");
        }

        _doubtful = false;
        await SettleHoldsAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Checked at the start of each turn without entering an async method (the hot path).</summary>
    private bool NoShowsDue => NextWakeUp is { } due && due <= Now;

    /// <summary>The scheduling deadline of a registration at <paramref name="now"/>: the same all day, so computed once a day.</summary>
    private DateTimeOffset ScheduleDueFor(DateTimeOffset now)
    {
        var today = WorkingDayCalendar.LocalDate(now);
        if (today != _scheduleDueDate)
        {
            _scheduleDue = _context.Calendar.EndOfWorkingDaysAfter(now, _context.Options.ScheduleWithinWorkingDays);
            _scheduleDueDate = today;
        }

        return _scheduleDue;
    }

    private DateOnly _scheduleDueDate;
    private DateTimeOffset _scheduleDue;

    // ---- Bed census -------------------------------------------------------------------------

    public BedCensus? Census => _census;

    public async Task<BedCensus> ReportBedsAsync(Actor actor, string requestId, BedReport report, CancellationToken cancellationToken)
    {
        RequireHospital(actor);
        if (FindRetry(actor, requestId, "ReportBeds") is { } retry)
        {
            // Records from before results were kept answer with the census as it is now.
            return retry.Result?.Census ?? _census!;
        }

        var now = Now;
        report.Validate("", now);
        var reportedAt = report.ReportedAt ?? now;

        if (OlderThanStored(report) && _census is { } stored)
        {
            throw DomainException.Precondition("STALE_REPORT",
                $"The {_key.ProfileCode} report of {reportedAt.ToOffset(WorkingDayCalendar.KazakhstanOffset):O} is older than the one stored, of {stored.ReportedAt.ToOffset(WorkingDayCalendar.KazakhstanOffset):O}; nothing was changed.");
        }

        var census = new BedCensus(report.Total, report.Occupied, report.Free, report.FreeMale, report.FreeFemale, reportedAt);
        await CommitAsync(actor, census, [], [], [], Idempotency(actor, requestId, "ReportBeds", "", null, new IdempotencyResult(Census: census)), cancellationToken).ConfigureAwait(false);
        return census;
    }

    /// <summary>
    /// Whether <see cref="ReportBedsAsync"/> would refuse <paramref name="report"/> as older than
    /// the stored census; a repeated request never is (it answers its first result).
    /// </summary>
    public bool IsStaleReport(Actor actor, string requestId, BedReport report) =>
        FindRetry(actor, requestId, "ReportBeds") is null && OlderThanStored(report);

    // An older count never replaces a newer one (a delayed or replayed export); the same time
    // is the same report again. A report without a time is as of now, whatever time a
    // hospital's clock running ahead (up to 5 minutes, see Validate) put on the stored one.
    private bool OlderThanStored(BedReport report) =>
        report.ReportedAt is { } reportedAt && _census is { } stored && reportedAt < stored.ReportedAt;

    // ---- Admission calendar -----------------------------------------------------------------

    /// <summary>The calendar from <paramref name="from"/> on, with reservations and over-capacity days.</summary>
    public IReadOnlyList<AdmissionDay> CalendarFrom(DateOnly from) => CalendarFrom(from, []);

    /// <summary>The calendar from <paramref name="from"/> on as it is once <paramref name="changes"/> are applied.</summary>
    private AdmissionDay[] CalendarFrom(DateOnly from, IReadOnlyList<CalendarSlots> changes)
    {
        var slotsOf = _slots;
        if (changes.Count > 0)
        {
            slotsOf = new Dictionary<DateOnly, int>(_slots);
            foreach (var change in changes)
            {
                slotsOf[change.Date] = change.Slots;
            }
        }

        var days = new List<AdmissionDay>(slotsOf.Count);
        foreach (var (date, slots) in slotsOf)
        {
            if (date >= from)
            {
                days.Add(new AdmissionDay(date, slots, _reserved.GetValueOrDefault(date)));
            }
        }

        foreach (var (date, reserved) in _reserved)
        {
            if (date >= from && reserved > 0 && !slotsOf.ContainsKey(date))
            {
                days.Add(new AdmissionDay(date, 0, reserved));
            }
        }

        days.Sort(static (a, b) => a.Date.CompareTo(b.Date));
        return [.. days];
    }

    public async Task<IReadOnlyList<AdmissionDay>> SetAdmissionCapacityAsync(Actor actor, string requestId, IReadOnlyList<CalendarSlots> days, CancellationToken cancellationToken)
    {
        RequireHospital(actor);
        if (FindRetry(actor, requestId, "SetAdmissionCapacity") is { } retry)
        {
            return retry.Result?.Calendar ?? CalendarFrom(Today);
        }

        if (days.Count == 0 || days.Count > 366)
        {
            throw DomainException.Invalid("days", "OUT_OF_RANGE", "must list 1 to 366 dates");
        }

        var today = Today;
        var horizon = today.AddDays(_context.Options.CalendarHorizonDays);
        var seen = new HashSet<DateOnly>();
        for (var i = 0; i < days.Count; i++)
        {
            var day = days[i];
            if (day.Date < today || day.Date > horizon)
            {
                throw DomainException.Invalid($"days[{i}].date", "OUT_OF_RANGE", $"must be from today ({today:yyyy-MM-dd}) to {horizon:yyyy-MM-dd}");
            }

            if (day.Slots is < 0 or > 10_000)
            {
                throw DomainException.Invalid($"days[{i}].slots", "OUT_OF_RANGE", "must be between 0 and 10000");
            }

            if (!seen.Add(day.Date))
            {
                throw DomainException.Invalid($"days[{i}].date", "DUPLICATE", $"{day.Date:yyyy-MM-dd} is listed twice");
            }
        }

        // Lowering below reservations is allowed: those stay valid and show as over capacity.
        var calendar = CalendarFrom(today, days);
        await CommitAsync(actor, null, days, [], [], Idempotency(actor, requestId, "SetAdmissionCapacity", "", null, new IdempotencyResult(Calendar: calendar)), cancellationToken).ConfigureAwait(false);
        return calendar;
    }

    // ---- Referrals --------------------------------------------------------------------------

    public async Task<RegistrationResult> RegisterAsync(RegisterReferral command, CancellationToken cancellationToken)
    {
        if (command.Actor.Role != ActorRole.Polyclinic)
        {
            throw new DomainException(DomainErrorKind.PermissionDenied, "POLYCLINICS_ONLY", "Only a polyclinic registers referrals.");
        }

        await EnsureReferralsAsync(cancellationToken).ConfigureAwait(false);
        if (NoShowsDue)
        {
            await ExpireNoShowsAsync(cancellationToken).ConfigureAwait(false);
        }

        if (FindRetry(command.Actor, command.RequestId, IdempotencyRecord.Registration) is { } retry)
        {
            var referral = _referrals[retry.HospitalizationCode].ToReferral(_key);
            return new RegistrationResult(RetryView(referral, referral.History[0].Sequence), _context.Protector.Unprotect(retry.ProtectedAccessKey!));
        }

        var (_, profile) = _context.Directory.Require(_key);
        var birthDate = Identifiers.ParseIin(command.PatientIin);
        var icd10 = Identifiers.ParseIcd10(command.Icd10Code);
        if (command.PatientRegionCode is not { Length: 2 } region || !Identifiers.AllDigits(region))
        {
            throw DomainException.Invalid("patient_region_code", "INVALID_REGION", "must be a two-digit KATO region code");
        }

        if (command.PatientLocality.Length > 200)
        {
            throw DomainException.Invalid("patient_locality", "TOO_LONG", "must be at most 200 characters");
        }

        ValidatePlannedDate(command.PlannedDate, "planned_date");
        var age = Identifiers.AgeOn(birthDate, command.PlannedDate);
        if (age < 0)
        {
            throw DomainException.Invalid("patient_iin", "NOT_BORN", "the patient is not born on the planned date");
        }

        if (profile.IsChild != age < 18)
        {
            throw DomainException.Invalid("bed_profile_code", "AGE_MISMATCH",
                profile.IsChild ? $"{profile.Code} is a child profile and the patient is {age} on the planned date" : $"{profile.Code} is an adult profile and the patient is {age} on the planned date");
        }

        RequireFreeSlot(command.PlannedDate);

        var now = Now;
        var sequence = _nextCodeSequence;
        var code = HospitalizationCodes.Format(command.PatientRegionCode, _key, sequence);
        var patientKey = _context.Protector.Hash(command.PatientIin);
        var hold = new PatientHold(patientKey, _key.ProfileCode, code, command.Actor.OrganizationId);
        if (_doubtful)
        {
            // Before claiming: a failure of the recheck is not this registration's write.
            await RecheckAsync(cancellationToken).ConfigureAwait(false);
        }

        if (_context.PatientHolds?.TryClaim(hold) is { } existing)
        {
            if (_context.PatientHolds.IsUnsettled(existing))
            {
                throw new DomainException(DomainErrorKind.Unavailable, "REGISTRATION_OUTCOME_UNKNOWN",
                    $"patient_iin: whether the patient's last change of a referral for profile {_key.ProfileCode} was stored is not known yet; retry shortly", "patient_iin");
            }

            // The existing code is told only to the polyclinic that holds it.
            var message = existing.ReferringOrganizationId == command.Actor.OrganizationId
                ? $"patient_iin: the patient already holds active referral {existing.HospitalizationCode} for profile {_key.ProfileCode}"
                : $"patient_iin: the patient already holds an active referral for profile {_key.ProfileCode} from another polyclinic";
            throw new DomainException(DomainErrorKind.AlreadyExists, "ACTIVE_REFERRAL_EXISTS", message, "patient_iin");
        }

        var committedVersion = _version + 1;
        try
        {
            var accessKey = AccessKeys.Generate();
            var registered = CompactReferral.RegistrationEvent(_nextEventSequence, code, command.Actor.OrganizationId, now, command.PlannedDate);
            var referral = new Referral
            {
                HospitalizationCode = code,
                AccessKeyHash = AccessKeys.Hash(accessKey),
                Status = ReferralStatus.Registered,
                HospitalId = _key.HospitalId,
                ProfileCode = _key.ProfileCode,
                ReferringOrganizationId = command.Actor.OrganizationId,
                PatientKey = patientKey,
                ProtectedPatientIin = _context.Protector.Protect(command.PatientIin),
                Icd10Code = icd10,
                Purpose = command.Purpose,
                FinanceSource = command.FinanceSource,
                PatientLocality = command.PatientLocality,
                PatientRegionCode = command.PatientRegionCode,
                PlannedDate = command.PlannedDate,
                RegistrationSequence = sequence,
                RegisteredAt = now,
                ScheduleDueAt = ScheduleDueFor(now),
                StatusReason = registered.Reason,
                UpdatedAt = now,
                History = [registered],
            };
            var idempotency = Idempotency(command.Actor, command.RequestId, IdempotencyRecord.Registration, code, _context.Protector.Protect(accessKey));
            await CommitAsync(command.Actor, null, [], [referral], [registered], idempotency, cancellationToken, codeSequence: sequence + 1).ConfigureAwait(false);
            return new RegistrationResult(View(referral), accessKey);
        }
        catch when (_version < committedVersion && !_doubtful)
        {
            // Released unless storage accepted the write (the version moved): after that the
            // referral is committed, whatever throws later (the observer). A write that failed
            // without a clear outcome (the connection lost at commit) keeps its hold, unsettled,
            // until the grain's next activation reads whether the referral was stored.
            _context.PatientHolds?.Release(patientKey, _key.ProfileCode, code);
            throw;
        }
    }

    /// <summary>The hospital confirms the planned date or sets another (the slot moves with it).</summary>
    public Task<ReferralView> ScheduleAsync(Actor actor, string requestId, string code, DateOnly? plannedDate, string reason, CancellationToken cancellationToken)
    {
        RequireHospital(actor);
        return ChangeAsync(actor, requestId, "ScheduleReferral", code, cancellationToken, referral =>
        {
            var date = plannedDate ?? referral.PlannedDate;
            if (date != referral.PlannedDate)
            {
                ValidatePlannedDate(date, "planned_date");
                RequireAgeFits(referral, date);
                RequireFreeSlot(date);
                if (string.IsNullOrWhiteSpace(reason))
                {
                    throw DomainException.Invalid("reason", "REQUIRED", "is required when the date changes");
                }
            }

            var text = date == referral.PlannedDate ? Text(reason, "Planned date confirmed by the hospital") : reason;
            return (referral with { Status = ReferralStatus.Scheduled, PlannedDate = date }, date == referral.PlannedDate ? "SCHEDULED" : "RESCHEDULED", text);
        }, ReferralStatus.Registered, ReferralStatus.Scheduled);
    }

    /// <summary>The referring polyclinic moves the planned date (the slot moves with it).</summary>
    public Task<ReferralView> RescheduleAsync(Actor actor, string requestId, string code, DateOnly plannedDate, string reason, CancellationToken cancellationToken) =>
        ChangeAsync(actor, requestId, "RescheduleReferral", code, cancellationToken, referral =>
        {
            RequireReferringPolyclinic(actor, referral);
            if (plannedDate == referral.PlannedDate)
            {
                throw DomainException.Invalid("planned_date", "UNCHANGED", "is the current planned date");
            }

            ValidatePlannedDate(plannedDate, "planned_date");
            RequireAgeFits(referral, plannedDate);
            RequireFreeSlot(plannedDate);

            // A date the hospital confirmed and the polyclinic moved needs the hospital's confirmation again.
            var moved = referral with { Status = ReferralStatus.Registered, PlannedDate = plannedDate, ScheduleDueAt = ScheduleDueFor(Now) };
            return (moved, "RESCHEDULED", Text(reason, "Planned date moved by the referring polyclinic"));
        }, ReferralStatus.Registered, ReferralStatus.Scheduled);

    public Task<ReferralView> AdmitAsync(Actor actor, string requestId, string code, DateTimeOffset? admittedAt, CancellationToken cancellationToken)
    {
        RequireHospital(actor);
        return ChangeAsync(actor, requestId, "AdmitPatient", code, cancellationToken, referral =>
        {
            var at = admittedAt ?? Now;
            if (at > Now + TimeSpan.FromMinutes(5))
            {
                throw DomainException.Invalid("admitted_at", "IN_FUTURE", "must not be in the future");
            }

            if (at < referral.RegisteredAt)
            {
                throw DomainException.Invalid("admitted_at", "BEFORE_REGISTRATION", $"must not be before the referral was registered ({referral.RegisteredAt:yyyy-MM-dd HH:mm zzz})");
            }

            return (referral with { Status = ReferralStatus.Admitted, AdmittedAt = at }, "ADMITTED", "Admitted to the hospital");
        }, ReferralStatus.Scheduled); // issue 3: REGISTERED -> SCHEDULED -> ADMITTED
    }

    public Task<ReferralView> RefuseAsync(Actor actor, string requestId, string code, RefusalReason reason, string text, CancellationToken cancellationToken)
    {
        RequireHospital(actor);
        if (reason == RefusalReason.None)
        {
            throw DomainException.Invalid("reason", "REQUIRED", "a refusal reason is required");
        }

        if (reason == RefusalReason.Other && string.IsNullOrWhiteSpace(text))
        {
            throw DomainException.Invalid("reason_text", "REQUIRED", "is required when the reason is OTHER");
        }

        return ChangeAsync(actor, requestId, "RefusePatient", code, cancellationToken, referral =>
            (referral with { Status = ReferralStatus.Refused, RefusedAt = Now, RefusalReason = reason }, "REFUSED", Text(text, $"Refused: {reason}")),
            ReferralStatus.Registered, ReferralStatus.Scheduled);
    }

    public Task<ReferralView> CancelAsync(Actor actor, string requestId, string code, CancellationReason reason, string text, CancellationToken cancellationToken)
    {
        if (reason == CancellationReason.None)
        {
            throw DomainException.Invalid("reason", "REQUIRED", "a cancellation reason is required");
        }

        if (reason == CancellationReason.Other && string.IsNullOrWhiteSpace(text))
        {
            throw DomainException.Invalid("reason_text", "REQUIRED", "is required when the reason is OTHER");
        }

        return ChangeAsync(actor, requestId, "CancelReferral", code, cancellationToken, referral =>
        {
            RequireReferringPolyclinic(actor, referral);
            return (referral with { Status = ReferralStatus.Cancelled, CancellationReason = reason }, "CANCELLED", Text(text, $"Cancelled: {reason}"));
        }, ReferralStatus.Registered, ReferralStatus.Scheduled);
    }

    /// <summary>
    /// The patient cancels with the coupon: a wrong access key answers as an unknown code does
    /// (NOT_FOUND), as for the patient's lookups. All patients act as <see cref="Actor.Patient"/>
    /// and so share one scope of request ids per grain: an id already used for another referral
    /// is refused, never answered with that referral.
    /// </summary>
    public async Task<ReferralView> CancelByPatientAsync(string requestId, string code, string accessKey, CancellationReason reason, string text, CancellationToken cancellationToken)
    {
        if (reason == CancellationReason.None)
        {
            throw DomainException.Invalid("reason", "REQUIRED", "a cancellation reason is required");
        }

        if (reason == CancellationReason.Other && string.IsNullOrWhiteSpace(text))
        {
            throw DomainException.Invalid("reason_text", "REQUIRED", "is required when the reason is OTHER");
        }

        await EnsureReferralsAsync(cancellationToken).ConfigureAwait(false);
        if (!_referrals.TryGetValue(code, out var held) || !AccessKeys.Matches(accessKey, held.AccessKeyHash))
        {
            throw DomainException.NotFound("REFERRAL_NOT_FOUND", "No referral with this code and access key.");
        }

        return await ChangeAsync(Actor.Patient, requestId, "CancelReferralByPatient", code, cancellationToken, referral =>
            (referral with { Status = ReferralStatus.Cancelled, CancellationReason = reason }, "CANCELLED", Text(text, $"Cancelled by the patient: {reason}")),
            ReferralStatus.Registered, ReferralStatus.Scheduled).ConfigureAwait(false);
    }

    /// <summary>A referral with its place in the queue, as of now; NOT_FOUND when unknown.</summary>
    public async Task<ReferralView> GetAsync(string code, CancellationToken cancellationToken)
    {
        await EnsureReferralsAsync(cancellationToken).ConfigureAwait(false);
        if (NoShowsDue)
        {
            await ExpireNoShowsAsync(cancellationToken).ConfigureAwait(false);
        }

        return View(Find(code));
    }

    /// <summary>A patient's view: NOT_FOUND for a wrong key just as for an unknown code.</summary>
    public async Task<ReferralView> GetForPatientAsync(string code, string accessKey, CancellationToken cancellationToken)
    {
        await EnsureReferralsAsync(cancellationToken).ConfigureAwait(false);
        if (!_referrals.TryGetValue(code, out var referral) || !AccessKeys.Matches(accessKey, referral.AccessKeyHash))
        {
            throw DomainException.NotFound("REFERRAL_NOT_FOUND", "No referral with this code and access key.");
        }

        return await GetAsync(code, cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<ReferralView>> ListQueueAsync(QueueFilter filter, CancellationToken cancellationToken)
    {
        await EnsureReferralsAsync(cancellationToken).ConfigureAwait(false);
        if (NoShowsDue)
        {
            await ExpireNoShowsAsync(cancellationToken).ConfigureAwait(false);
        }

        var now = Now;
        var statuses = filter.Statuses is { Count: > 0 } s ? s : null;
        var result = new List<ReferralView>();
        if (statuses is null || statuses.All(st => st.IsActive()))
        {
            var position = 0;
            foreach (var (date, sequence) in _queue.InOrder())
            {
                position++;
                var referral = _activeBySequence[sequence];
                if (Matches(referral, statuses, filter))
                {
                    result.Add(new ReferralView(referral.ToReferral(_key), position, referral.IsScheduleOverdue(now), now));
                }
            }

            return result;
        }

        foreach (var referral in _referrals.Values.OrderBy(r => r.PlannedDate).ThenBy(r => r.RegistrationSequence))
        {
            if (Matches(referral, statuses, filter))
            {
                result.Add(View(referral));
            }
        }

        return result;
    }

    public int QueueLength => _referralsLoaded ? _queue.Count : _reserved.Values.Sum();

    /// <summary>
    /// The events after <paramref name="sequence"/>, in order, each with its referral now (watch
    /// streams resuming, or catching up with another node's commits: the referrals stay loaded,
    /// and <see cref="CatchUpAsync"/> keeps them across those commits).
    /// </summary>
    public async Task<IReadOnlyList<(ReferralEvent Event, Referral Referral)>> EventsAfterAsync(long sequence, CancellationToken cancellationToken)
    {
        await EnsureReferralsAsync(cancellationToken).ConfigureAwait(false);
        return _referrals.Values
            .Where(r => r.LastEventSequence > sequence)
            .Select(r => r.ToReferral(_key))
            .SelectMany(r => r.History.Where(e => e.Sequence > sequence).Select(e => (e, r)))
            .OrderBy(x => x.e.Sequence)
            .ToArray();
    }

    /// <summary>The sequence the next event will have, minus one: where a new watcher starts.</summary>
    public long LastEventSequence => _nextEventSequence - 1;

    /// <summary>
    /// For a patient grain whose hold names a request but no code (a registration interrupted,
    /// or in flight on another node): the code the request produced, or null after fencing the
    /// request off, committed like any change, so that it can never produce one later. A stale
    /// activation cannot fence: its commit conflicts and the caller retries on fresh state.
    /// </summary>
    public async Task<string?> ResolveRegistrationAsync(string actorOrganizationId, string requestId, CancellationToken cancellationToken)
    {
        await EnsureReferralsAsync(cancellationToken).ConfigureAwait(false);
        var key = IdempotencyKey(actorOrganizationId, requestId);
        if (_idempotency.TryGetValue(key, out var record))
        {
            return record.Operation == IdempotencyRecord.Registration ? record.HospitalizationCode : null;
        }

        await CommitAsync(Actor.Bureau, null, [], [], [], new IdempotencyRecord(key, IdempotencyRecord.FencedRegistration, "", null, Now), cancellationToken).ConfigureAwait(false);
        return null;
    }

    /// <summary>
    /// For a patient grain: whether this request registered a referral here. Never fences: a
    /// request not remembered may still register.
    /// </summary>
    public async Task<bool> RegisteredAsync(string actorOrganizationId, string requestId, CancellationToken cancellationToken)
    {
        await EnsureReferralsAsync(cancellationToken).ConfigureAwait(false);
        return _idempotency.TryGetValue(IdempotencyKey(actorOrganizationId, requestId), out var record) && record.Operation == IdempotencyRecord.Registration;
    }

    /// <summary>
    /// For a patient grain: whether the referral its hold names is still active. The patient
    /// grain only records codes a bed grain committed, so a code this activation does not know
    /// means it is stale (another activation committed since it loaded): the runtime runs the
    /// question again on a fresh activation. So does an activation that calls the referral active
    /// but is no longer the stored version: another node may have ended the referral since, and a
    /// refusal must not rest on an old answer.
    /// </summary>
    public async Task<bool> IsActiveAsync(string code, CancellationToken cancellationToken)
    {
        var loadedNow = !_referralsLoaded;
        await EnsureReferralsAsync(cancellationToken).ConfigureAwait(false);
        if (!_referrals.ContainsKey(code))
        {
            throw new StaleActivationException($"{_key}: {code} was committed by another activation");
        }

        if (NoShowsDue)
        {
            await ExpireNoShowsAsync(cancellationToken).ConfigureAwait(false);
        }

        if (!_referrals[code].Status.IsActive())
        {
            return false;
        }

        // An ended referral never becomes active again: only "active" needs the stored version
        // (read without the remembered requests), and only from an activation loaded earlier.
        if (!loadedNow && (await _context.Storage.LoadAsync(_key, DateTimeOffset.MaxValue, cancellationToken).ConfigureAwait(false))?.Version != _version)
        {
            throw new StaleActivationException($"{_key}: stored version is no longer {_version}");
        }

        return true;
    }

    // ---- Invariant checks (tests and the load tool's end-of-day audit) ------------------------

    /// <summary>Describes every broken invariant; empty when the grain is consistent.</summary>
    public async Task<IReadOnlyList<string>> CheckInvariantsAsync(CancellationToken cancellationToken = default)
    {
        await EnsureReferralsAsync(cancellationToken).ConfigureAwait(false);
        var problems = new List<string>();
        var counted = _referrals.Values.Where(r => r.Status.IsActive()).GroupBy(r => r.PlannedDate).ToDictionary(g => g.Key, g => g.Count());
        foreach (var (date, count) in counted)
        {
            if (_reserved.GetValueOrDefault(date) != count)
            {
                problems.Add($"{_key} {date}: {count} active referrals but {_reserved.GetValueOrDefault(date)} reserved");
            }
        }

        if (_queue.Count != counted.Values.Sum())
        {
            problems.Add($"{_key}: queue has {_queue.Count}, active referrals {counted.Values.Sum()}");
        }

        return problems;
    }

    // ---- Internals --------------------------------------------------------------------------

    private async Task<ReferralView> ChangeAsync(
        Actor actor, string requestId, string operation, string code, CancellationToken cancellationToken,
        Func<Referral, (Referral Changed, string Action, string Reason)> change, params ReferralStatus[] allowedFrom)
    {
        await EnsureReferralsAsync(cancellationToken).ConfigureAwait(false);
        if (NoShowsDue)
        {
            await ExpireNoShowsAsync(cancellationToken).ConfigureAwait(false);
        }

        if (FindRetry(actor, requestId, operation, code) is { } retry)
        {
            var current = _referrals[retry.HospitalizationCode].ToReferral(_key);
            return retry.Result?.EventSequence is { } sequence ? RetryView(current, sequence) : View(current);
        }

        var referral = Find(code);
        if (!allowedFrom.Contains(referral.Status))
        {
            throw DomainException.Precondition("INVALID_TRANSITION", $"{operation} is not allowed for a referral that is {referral.Status}.");
        }

        var (changed, action, reason) = change(referral);
        var now = Now;
        var @event = new ReferralEvent(_nextEventSequence, code, action, changed.Status, reason, actor.OrganizationId, now, changed.PlannedDate);
        changed = changed with { StatusReason = reason, UpdatedAt = now, History = [.. referral.History, @event] };
        await CommitAsync(actor, null, [], [changed], [@event], Idempotency(actor, requestId, operation, code, null, new IdempotencyResult(EventSequence: @event.Sequence)), cancellationToken).ConfigureAwait(false);
        return View(changed);
    }

    /// <summary>Referrals not admitted within the grace days after their planned date become NO_SHOW.</summary>
    private async Task ExpireNoShowsAsync(CancellationToken cancellationToken)
    {
        var now = Now;
        if (NextWakeUp is not { } due || due > now)
        {
            return;
        }

        var plannedBy = NoShowsDueBy(now, _context.Options);
        IEnumerable<Referral> dueReferrals;
        if (_referralsLoaded)
        {
            dueReferrals = _queue.InOrder().TakeWhile(r => r.Date <= plannedBy).Select(r => _activeBySequence[r.Sequence].ToReferral(_key));
        }
        else
        {
            // A wake-up of a grain whose queue is not in memory (the daily case: most grains have a
            // few no-shows each night) reads those few, not the queue.
            BedGrainReferrals loaded;
            try
            {
                loaded = await _context.Storage.LoadDueReferralsAsync(_key, _version, plannedBy, cancellationToken).ConfigureAwait(false);
            }
            catch (StorageConflictException ex)
            {
                throw new StaleActivationException(ex.Message);
            }

            dueReferrals = loaded.Referrals.OrderBy(r => r.PlannedDate).ThenBy(r => r.RegistrationSequence);
        }

        var expired = new List<Referral>();
        var events = new List<ReferralEvent>();
        var nextEvent = _nextEventSequence;
        var reason = $"Not admitted within {_context.Options.NoShowAfterDays} days after the planned date";
        foreach (var referral in dueReferrals)
        {
            var @event = new ReferralEvent(nextEvent++, referral.HospitalizationCode, "NO_SHOW", ReferralStatus.NoShow, reason, Actor.Bureau.OrganizationId, now, referral.PlannedDate);
            expired.Add(referral with { Status = ReferralStatus.NoShow, StatusReason = reason, UpdatedAt = now, History = [.. referral.History, @event] });
            events.Add(@event);
        }

        if (expired.Count == 0)
        {
            return;
        }

        await CommitAsync(Actor.Bureau, null, [], expired, events, null, cancellationToken).ConfigureAwait(false);
    }

    internal static DateTimeOffset NoShowAt(DateOnly plannedDate, BedGrainOptions options) =>
        new(plannedDate.AddDays(options.NoShowAfterDays + 1).ToDateTime(TimeOnly.MinValue), WorkingDayCalendar.KazakhstanOffset);

    /// <summary>The last planned date whose no-shows are due at <paramref name="now"/>: <see cref="NoShowAt"/> read backwards (due at a local midnight).</summary>
    private static DateOnly NoShowsDueBy(DateTimeOffset now, BedGrainOptions options) =>
        WorkingDayCalendar.LocalDate(now).AddDays(-options.NoShowAfterDays - 1);

    private DateTimeOffset NoShowAt(DateOnly plannedDate) => NoShowAt(plannedDate, _context.Options);

    private async Task CommitAsync(
        Actor actor, BedCensus? census, IReadOnlyList<CalendarSlots> calendar, IReadOnlyList<Referral> referrals,
        IReadOnlyList<ReferralEvent> events, IdempotencyRecord? idempotency, CancellationToken cancellationToken, long? codeSequence = null)
    {
        var change = new BedGrainChange(_version + 1, census, calendar, referrals, events, idempotency,
            codeSequence ?? _nextCodeSequence, _nextEventSequence + events.Count, actor.OrganizationId);

        if (_doubtful)
        {
            await RecheckAsync(cancellationToken).ConfigureAwait(false);
        }

        // Durable first: if this throws, memory is untouched.
        try
        {
            await _context.Storage.CommitAsync(_key, _version, change, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not StorageConflictException)
        {
            // Whether storage has the write is not known (the connection lost at commit): the
            // patients' holds of these referrals stay until a recheck reads what storage has.
            _doubtful = true;
            _recheckAt = Now + RecheckAfter;
            foreach (var referral in referrals)
            {
                _context.PatientHolds?.Unsettle(_key, referral.PatientKey, referral.ProfileCode, referral.HospitalizationCode);
            }

            throw;
        }

        _version = change.Version;
        _census = census ?? _census;
        foreach (var day in calendar)
        {
            _slots[day.Date] = day.Slots;
            Reindex(day.Date);
        }

        foreach (var referral in referrals)
        {
            if (_referralsLoaded)
            {
                ApplyReferral(referral, releaseHold: true);
            }
            else
            {
                // Without the queue in memory only no-shows are committed (ExpireNoShowsAsync):
                // each ends an active referral of its planned date.
                _reserved[referral.PlannedDate]--;
                Reindex(referral.PlannedDate);
                _context.PatientHolds?.Release(referral.PatientKey, referral.ProfileCode, referral.HospitalizationCode);
            }
        }

        if (idempotency is not null)
        {
            Remember(idempotency);
            ForgetExpiredRequests();
        }

        _nextCodeSequence = change.NextCodeSequence;
        _nextEventSequence = change.NextEventSequence;
        if (_index is { } index)
        {
            index.Census = _census;
            index.QueueLength = QueueLength;
        }

        _context.Observer?.OnCommitted(_key, change);
    }

    private void Remember(IdempotencyRecord record)
    {
        _idempotency[record.Key] = record;
        if (!record.IsRegistration)
        {
            _idempotencyByAge.Enqueue(record);
        }
    }

    /// <summary>
    /// Request ids are remembered for <see cref="BedGrainOptions.IdempotencyRetention"/>, then
    /// forgotten (durable adapters may delete such records; loading skips them). Registrations
    /// are kept (<see cref="IdempotencyRecord.IsRegistration"/>) and never queue here.
    /// </summary>
    private void ForgetExpiredRequests()
    {
        var cutoff = Now - _context.Options.IdempotencyRetention;
        while (_idempotencyByAge.TryPeek(out var oldest) && oldest.CreatedAt < cutoff)
        {
            _idempotencyByAge.Dequeue();
            if (_idempotency.TryGetValue(oldest.Key, out var current) && ReferenceEquals(current, oldest))
            {
                _idempotency.Remove(oldest.Key);
            }
        }
    }

    /// <summary>Brings the search index's count of free slots on a date up to date.</summary>
    private void Reindex(DateOnly date) =>
        _index?.SetFree(date.DayNumber, Math.Max(0, _slots.GetValueOrDefault(date) - _reserved.GetValueOrDefault(date)));

    private void ApplyReferral(Referral referral, bool releaseHold)
    {
        if (_referrals.TryGetValue(referral.HospitalizationCode, out var before) && before.Status.IsActive())
        {
            _queue.Remove(before.PlannedDate, before.RegistrationSequence);
            _reserved[before.PlannedDate]--;
            _activeBySequence.Remove(before.RegistrationSequence);
            Reindex(before.PlannedDate);
        }

        if (referral.Status.IsActive())
        {
            _queue.Add(referral.PlannedDate, referral.RegistrationSequence);
            _reserved[referral.PlannedDate] = _reserved.GetValueOrDefault(referral.PlannedDate) + 1;
            Reindex(referral.PlannedDate);
        }
        else if (releaseHold)
        {
            _context.PatientHolds?.Release(referral.PatientKey, referral.ProfileCode, referral.HospitalizationCode);
        }

        var compact = CompactReferral.From(_key, referral);
        _referrals[referral.HospitalizationCode] = compact;
        if (referral.Status.IsActive())
        {
            _activeBySequence[referral.RegistrationSequence] = compact;
        }
    }

    private ReferralView View(Referral referral)
    {
        var now = Now;
        var position = referral.Status.IsActive() ? _queue.PositionOf(referral.PlannedDate, referral.RegistrationSequence) : 0;
        return new ReferralView(referral, position, referral.IsScheduleOverdue(now), now);
    }

    private ReferralView View(CompactReferral referral) => View(referral.ToReferral(_key));

    /// <summary>
    /// The answer to a repeated request: the referral as the change of event
    /// <paramref name="sequence"/> left it, with its place in the queue as it is now.
    /// </summary>
    private ReferralView RetryView(Referral current, long sequence)
    {
        var asLeft = AsLeftBy(current, sequence);
        var position = current.Status.IsActive() ? _queue.PositionOf(current.PlannedDate, current.RegistrationSequence) : 0;
        var now = Now;
        return new ReferralView(asLeft, position, asLeft.IsScheduleOverdue(now), now);
    }

    /// <summary>
    /// The referral as the change of event <paramref name="sequence"/> left it, read back from its
    /// history. Only an active referral has later events, so an earlier state has no admission,
    /// refusal or cancellation; its scheduling deadline is the one then in force, which only the
    /// polyclinic moving the date resets.
    /// </summary>
    private Referral AsLeftBy(Referral referral, long sequence)
    {
        var history = referral.History;
        var index = history.Count - 1;
        while (index >= 0 && history[index].Sequence != sequence)
        {
            index--;
        }

        if (index < 0 || index == history.Count - 1)
        {
            return referral;
        }

        var then = history[index];
        var dueAt = referral.ScheduleDueAt;
        if (history.Skip(index + 1).Any(IsMovedByPolyclinic))
        {
            var lastMove = history.Take(index + 1).LastOrDefault(IsMovedByPolyclinic);
            dueAt = ScheduleDueFor(lastMove?.OccurredAt ?? referral.RegisteredAt);
        }

        return referral with
        {
            Status = then.Status,
            PlannedDate = then.PlannedDate,
            StatusReason = then.Reason,
            UpdatedAt = then.OccurredAt,
            ScheduleDueAt = dueAt,
            AdmittedAt = null,
            RefusedAt = null,
            RefusalReason = RefusalReason.None,
            CancellationReason = CancellationReason.None,
            History = [.. history.Take(index + 1)],
        };

        // RescheduleAsync: the polyclinic's move sends the referral back to REGISTERED with a new deadline.
        static bool IsMovedByPolyclinic(ReferralEvent e) => e is { Action: "RESCHEDULED", Status: ReferralStatus.Registered };
    }

    private Referral Find(string code) =>
        _referrals.TryGetValue(code, out var referral)
            ? referral.ToReferral(_key)
            : throw DomainException.NotFound("REFERRAL_NOT_FOUND", $"hospitalization_code: no referral {code}", "hospitalization_code");

    /// <summary>
    /// The first answer to this request, if it was made. Before the referrals are loaded the
    /// grain knows every request but registrations: only referral operations, which load them
    /// first, can meet one (a hospital never registers).
    /// </summary>
    /// <param name="code">The referral a referral operation names: its request id may not answer for another.</param>
    private IdempotencyRecord? FindRetry(Actor actor, string requestId, string operation, string? code = null)
    {
        if (string.IsNullOrEmpty(requestId))
        {
            throw DomainException.Invalid("request_id", "REQUIRED", "is required on every change, for safe retries");
        }

        if (requestId.Length > 128)
        {
            throw DomainException.Invalid("request_id", "TOO_LONG", "must be at most 128 characters");
        }

        if (!_idempotency.TryGetValue(IdempotencyKey(actor.OrganizationId, requestId), out var record))
        {
            return null;
        }

        if (record.Operation == IdempotencyRecord.FencedRegistration && operation == IdempotencyRecord.Registration)
        {
            throw DomainException.Precondition("REGISTRATION_SUPERSEDED", "Another registration of this patient for this profile was accepted meanwhile; look it up before retrying.");
        }

        if (record.Operation != operation)
        {
            throw DomainException.Invalid("request_id", "REUSED", $"was already used for {record.Operation}");
        }

        // Not named: all patients share one actor, and the other referral may be someone else's.
        return code is null || record.HospitalizationCode == code
            ? record
            : throw DomainException.Invalid("request_id", "REUSED", "was already used for another referral");
    }

    private IdempotencyRecord Idempotency(Actor actor, string requestId, string operation, string code, string? protectedAccessKey, IdempotencyResult? result = null) =>
        new(IdempotencyKey(actor.OrganizationId, requestId), operation, code, protectedAccessKey, Now, result);

    private static string IdempotencyKey(string actorOrganizationId, string requestId) => $"{actorOrganizationId}/{requestId}";

    private void ValidatePlannedDate(DateOnly date, string field)
    {
        var today = Today;
        if (date < today)
        {
            throw DomainException.Invalid(field, "IN_PAST", $"must not be before today ({today:yyyy-MM-dd})");
        }

        if (date > today.AddDays(_context.Options.CalendarHorizonDays) || !_slots.ContainsKey(date))
        {
            throw DomainException.Invalid(field, "OUTSIDE_CALENDAR", $"{date:yyyy-MM-dd} is not in the hospital's admission calendar");
        }
    }

    /// <summary>
    /// A moved date must still suit the profile's age group, as registration checked the first
    /// date (issue 3: age on the planned date): a child turning 18 before it needs an adult bed.
    /// </summary>
    private void RequireAgeFits(Referral referral, DateOnly date)
    {
        var (_, profile) = _context.Directory.Require(_key);
        var age = Identifiers.AgeOn(Identifiers.ParseIin(_context.Protector.Unprotect(referral.ProtectedPatientIin)), date);
        if (age < 0)
        {
            throw DomainException.Invalid("planned_date", "NOT_BORN", $"the patient is not born on {date:yyyy-MM-dd}");
        }

        if (profile.IsChild != age < 18)
        {
            throw DomainException.Invalid("planned_date", "AGE_MISMATCH",
                profile.IsChild
                    ? $"the patient is {age} on {date:yyyy-MM-dd}, too old for child profile {profile.Code}"
                    : $"the patient is {age} on {date:yyyy-MM-dd}, too young for adult profile {profile.Code}");
        }
    }

    private void RequireFreeSlot(DateOnly date)
    {
        if (_reserved.GetValueOrDefault(date) >= _slots.GetValueOrDefault(date))
        {
            throw DomainException.Precondition("NO_FREE_SLOT", $"No free admission slot on {date:yyyy-MM-dd} for {_key.ProfileCode} at hospital {_key.HospitalId}.");
        }
    }

    private void RequireHospital(Actor actor)
    {
        if (actor.Role != ActorRole.Hospital || actor.OrganizationId != _key.HospitalId)
        {
            throw new DomainException(DomainErrorKind.PermissionDenied, "NOT_THIS_HOSPITAL", $"Only hospital {_key.HospitalId} may do this.");
        }
    }

    private static void RequireReferringPolyclinic(Actor actor, Referral referral)
    {
        if (actor.Role != ActorRole.Polyclinic || actor.OrganizationId != referral.ReferringOrganizationId)
        {
            throw new DomainException(DomainErrorKind.PermissionDenied, "NOT_REFERRING_POLYCLINIC", "Only the referring polyclinic may do this.");
        }
    }

    private static bool Matches(CompactReferral referral, IReadOnlySet<ReferralStatus>? statuses, QueueFilter filter) =>
        (statuses is null ? referral.Status.IsActive() : statuses.Contains(referral.Status)) &&
        (filter.PlannedFrom is not { } from || referral.PlannedDate >= from) &&
        (filter.PlannedTo is not { } to || referral.PlannedDate <= to);

    private static string Text(string? given, string fallback) => string.IsNullOrWhiteSpace(given) ? fallback : given.Trim();
}
