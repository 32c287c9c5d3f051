using System.Diagnostics;
using System.Text.Json;
using BedBureau.Contract.Health.V1;
using BedBureau.Contract.V1;
using BedBureau.Gateway.Sample;
using BedBureau.Wire;
using BedBureau.Wire.Client;

namespace BedBureau.LoadTest;

public sealed record NationalDayOptions
{
    public required string Server { get; init; }

    /// <summary>The gateway's demo-keys.json: one key per hospital (Sample:HospitalKeys) and per polyclinic (Sample:PolyclinicKeys).</summary>
    public required string KeysFile { get; init; }

    /// <summary>1 is the national day: 8,500 referrals and 1,000,000 queue lookups; the hospitals are those with keys.</summary>
    public double Scale { get; init; } = 1;

    public int Concurrency { get; init; } = 64;

    public int LookupConcurrency { get; init; } = 128;

    public int Seed { get; init; } = 2026;

    /// <summary>The gateway's Prometheus endpoint (http://host:port/metrics): its process CPU around the reporting hour's burst; null skips it.</summary>
    public string? GatewayMetrics { get; init; }

    /// <summary>The bureau's date (Kazakhstan); by default this machine's.</summary>
    public DateOnly? Today { get; init; }

    /// <summary>
    /// More than 0: instead of the day, every hospital reports all its profiles this many times in
    /// a row (the first round on grains as it finds them, the next ones on warm grains): the
    /// gateway's capacity for ReportBeds, each round timed on its own.
    /// </summary>
    public int ReportingRounds { get; init; }

    /// <summary>
    /// Moves the bureau's clock on, for no-shows (2 days after the planned date), e.g. by restarting
    /// the gateway on its store with its clock that far ahead; null skips them. The day goes on once
    /// the gateway serves again.
    /// </summary>
    public Func<TimeSpan, Task>? AdvanceClock { get; init; }

    public int Referrals => Math.Max(1, (int)Math.Round(8_500 * Scale));

    public int Lookups => Math.Max(1, (int)Math.Round(1_000_000 * Scale));
}

/// <summary>What the day did and found.</summary>
public sealed record NationalDayResult(TimeSpan DayWallTime, int Hospitals, int Acknowledged, int NoShows, long Errors, IReadOnlyList<string> Violations, string Report)
{
    /// <summary>A GetQueueStatus request for h2load: of the day's hottest code still in its queue (else the hottest), if any referral was acknowledged.</summary>
    public GetQueueStatusRequest? HotLookup { get; init; }

    /// <summary>The hospitalization codes of the day's acknowledged referrals.</summary>
    public IReadOnlyList<string> AcknowledgedCodes { get; init; } = [];

    public bool Passed => Errors == 0 && Violations.Count == 0;
}

/// <summary>
/// A compressed national day against a running gateway: the reporting hour, the polyclinics'
/// morning peak, patients looking up their queue while hospitals schedule, admit and refuse,
/// no-shows expiring; then the invariants over the whole store.
/// </summary>
public sealed class NationalDay(NationalDayOptions options, TextWriter log)
{
    private static readonly string[] Order = ["GetHospital", "ReportBeds", "SetAdmissionCapacity", "SearchFreeBeds", "RegisterReferral", "GetQueueStatus", "ScheduleReferral", "AdmitPatient", "RefusePatient", "ListQueue", "SetAdmissionCapacity (check)", "GetQueueStatus (check)"];

    private readonly RpcStats _stats = new();
    private readonly List<string> _violations = [];
    private readonly List<(string Phase, TimeSpan Took, string Note, PhaseCpu Cpu)> _phases = [];
    private readonly Dictionary<string, HospitalState> _hospitals = [];
    private readonly List<Acknowledged> _acknowledged = [];
    private HashSet<string> _childProfiles = [];
    private GrpcChannel _channel = null!;
    private DateOnly _today;
    private TimeSpan _reportBedsTook;
    private PhaseCpu? _reportBedsCpu;

    public async Task<NationalDayResult> RunAsync(CancellationToken cancellationToken)
    {
        _today = options.Today ?? DateOnly.FromDateTime(DateTime.UtcNow.AddHours(5));
        using var channel = GrpcChannel.ForAddress(options.Server);
        _channel = channel;
        var keys = JsonSerializer.Deserialize<List<KeyEntry>>(await File.ReadAllTextAsync(options.KeysFile, cancellationToken).ConfigureAwait(false))!;
        var polyclinics = keys.Where(k => k.kind == "POLYCLINIC").ToArray();
        var hospitalKeys = keys.Where(k => k.kind == "HOSPITAL").ToArray();
        if (polyclinics.Length == 0 || hospitalKeys.Length == 0)
        {
            throw new InvalidOperationException($"{options.KeysFile} has no polyclinic or no hospital keys.");
        }

        await Phase("directory", $"{hospitalKeys.Length} hospitals", () => LoadDirectoryAsync(hospitalKeys, cancellationToken)).ConfigureAwait(false);
        if (options.ReportingRounds > 0)
        {
            return await ReportingRoundsAsync(cancellationToken).ConfigureAwait(false);
        }

        var day = Stopwatch.StartNew();
        var profiles = _hospitals.Values.Sum(h => h.Profiles.Count);
        await Phase("reporting hour", $"{_hospitals.Count} hospitals, {profiles} profiles, then their calendars", () => ReportingHourAsync(cancellationToken)).ConfigureAwait(false);
        var updatesPerSecond = profiles / _reportBedsTook.TotalSeconds;
        await Phase("morning peak", $"{options.Referrals} referrals from {polyclinics.Length} polyclinics, a search before each", () => MorningPeakAsync(polyclinics, cancellationToken)).ConfigureAwait(false);
        await Phase("patients and hospitals", $"{options.Lookups} lookups (skewed) while hospitals schedule, admit, refuse",
            () => Task.WhenAll(PatientsAsync(cancellationToken), HospitalsAsync(cancellationToken))).ConfigureAwait(false);
        await Phase("no-shows", options.AdvanceClock is null ? "skipped: no control of the bureau's clock" : "clock +3 days, today's unadmitted referrals expire",
            () => NoShowsAsync(cancellationToken)).ConfigureAwait(false);
        day.Stop();
        await Phase("invariants", "whole store", () => CheckInvariantsAsync(cancellationToken)).ConfigureAwait(false);

        var report = Report(day.Elapsed, updatesPerSecond);
        log.Write(report);
        return new NationalDayResult(day.Elapsed, _hospitals.Count, _acknowledged.Count, _acknowledged.Count(a => a.Expected == ReferralStatus.NoShow), _stats.TotalErrors, _violations, report)
        {
            HotLookup = HotLookup(),
            AcknowledgedCodes = _acknowledged.Select(a => a.Code).ToArray(),
        };
    }

    // Ranked by heat as the lookups are (PatientsAsync): the hottest whose place still moves.
    private GetQueueStatusRequest? HotLookup()
    {
        var hot = _acknowledged.FirstOrDefault(a => a.Expected is ReferralStatus.Registered or ReferralStatus.Scheduled) ?? _acknowledged.FirstOrDefault();
        return hot is null ? null : new GetQueueStatusRequest { HospitalizationCode = hot.Code, AccessKey = hot.AccessKey };
    }

    private async Task<TimeSpan> Phase(string name, string note, Func<Task> run)
    {
        log.WriteLine($"{DateTime.UtcNow:HH:mm:ss} {name}: {note}");
        var before = await CpuNowAsync().ConfigureAwait(false);
        var watch = Stopwatch.StartNew();
        await run().ConfigureAwait(false);
        var took = watch.Elapsed;
        var after = await CpuNowAsync().ConfigureAwait(false);
        _phases.Add((name, took, note, after - before));
        return took;
    }

    /// <summary>
    /// CPU seconds so far of this tool, of the gateway (from its /metrics) and of the whole
    /// machine (Linux /proc/stat): per phase they say whose work bounds it, as all share two
    /// cores. Null parts are unknown here.
    /// </summary>
    private async Task<PhaseCpu> CpuNowAsync()
    {
        using var self = Process.GetCurrentProcess();
        var gateway = await GatewayCpuAsync(CancellationToken.None).ConfigureAwait(false);
        return new PhaseCpu(self.TotalProcessorTime, gateway, MachineBusy());
    }

    /// <summary>Busy CPU time of all cores (user, nice, system, irq, softirq, steal), or null off Linux.</summary>
    private static TimeSpan? MachineBusy()
    {
        try
        {
            var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            long Ticks(int i) => long.Parse(fields[i], System.Globalization.CultureInfo.InvariantCulture);

            // cpu user nice system idle iowait irq softirq steal: USER_HZ is 100 on Linux.
            var busy = Ticks(1) + Ticks(2) + Ticks(3) + Ticks(6) + Ticks(7) + Ticks(8);
            return TimeSpan.FromSeconds(busy / 100.0);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private sealed record PhaseCpu(TimeSpan Tool, TimeSpan? Gateway, TimeSpan? Machine)
    {
        // A gateway count lower than before is a restarted gateway's: all of it falls in the phase.
        public static PhaseCpu operator -(PhaseCpu after, PhaseCpu before) =>
            new(after.Tool - before.Tool, after.Gateway < before.Gateway ? after.Gateway : after.Gateway - before.Gateway, after.Machine - before.Machine);

        public static PhaseCpu operator +(PhaseCpu a, PhaseCpu b) =>
            new(a.Tool + b.Tool, a.Gateway + b.Gateway, a.Machine + b.Machine);

        public override string ToString() =>
            $"CPU s: tool {Tool.TotalSeconds:0.0}" + (Gateway is { } g ? $", gateway {g.TotalSeconds:0.0}" : "")
            + (Machine is { } m ? $", rest of the machine {Math.Max(0, (m - Tool - (Gateway ?? TimeSpan.Zero)).TotalSeconds):0.0}" : "");
    }

    private async Task LoadDirectoryAsync(KeyEntry[] hospitalKeys, CancellationToken cancellationToken)
    {
        var profiles = await _channel.UnaryAsync(Api.ListBedProfiles, new ListBedProfilesRequest(), Deadline(cancellationToken)).ConfigureAwait(false);
        _childProfiles = profiles.Profiles.Where(p => p.AgeGroup == AgeGroup.Child).Select(p => p.Code).ToHashSet();
        var loaded = new HospitalState[hospitalKeys.Length];
        await ForEachAsync(hospitalKeys.Length, options.Concurrency, async i =>
        {
            var (hospital, _) = await _stats.CallAsync("GetHospital", () => _channel.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = hospitalKeys[i].organization_id }, Deadline(cancellationToken))).ConfigureAwait(false);
            if (hospital is not null)
            {
                loaded[i] = new HospitalState(hospital.Hospital.Id, hospital.Hospital.RegionCode, Auth(hospitalKeys[i].key), hospital.Census.ToDictionary(c => c.BedProfileCode, c => Math.Max(1, c.Total)));
            }
        }).ConfigureAwait(false);
        foreach (var hospital in loaded.Where(h => h is not null))
        {
            _hospitals[hospital.Id] = hospital;
        }
    }

    /// <summary>Every hospital reports all its profiles (timed on its own), then opens the 31st day of its calendar.</summary>
    private async Task ReportingHourAsync(CancellationToken cancellationToken)
    {
        var hospitals = _hospitals.Values.ToArray();
        var lastDay = _today.AddDays(30);
        (_reportBedsTook, _reportBedsCpu) = await ReportAllBedsAsync("beds", cancellationToken).ConfigureAwait(false);

        var calendars = hospitals.SelectMany(h => h.Profiles.Select(p => (Hospital: h, Profile: p.Key, Total: p.Value))).ToArray();
        await ForEachAsync(calendars.Length, options.Concurrency, async i =>
        {
            var (hospital, profile, total) = calendars[i];
            var slots = Math.Max(1, (int)Math.Round(total / 4.0));
            hospital.CalendarProbe[profile] = (lastDay, slots);
            var request = new SetAdmissionCapacityRequest { RequestId = $"day-{options.Seed}-{_today:yyyyMMdd}-cal-{hospital.Id}-{profile}", BedProfileCode = profile };
            request.Days.Add(new AdmissionDay { Date = Date(lastDay), Slots = slots });
            await _stats.CallAsync("SetAdmissionCapacity", () => _channel.UnaryAsync(Api.SetAdmissionCapacity, request, Deadline(cancellationToken, hospital.Auth))).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }

    /// <summary>The reporting hour's burst <see cref="NationalDayOptions.ReportingRounds"/> times: ReportBeds alone, at saturation.</summary>
    private async Task<NationalDayResult> ReportingRoundsAsync(CancellationToken cancellationToken)
    {
        var profiles = _hospitals.Values.Sum(h => h.Profiles.Count);
        var text = new System.Text.StringBuilder();
        text.AppendLine();
        text.AppendLine($"ReportBeds against {options.Server}: {_hospitals.Count} hospitals report their {profiles} profiles, {options.ReportingRounds} rounds, {options.Concurrency} calls in flight");
        var total = Stopwatch.StartNew();
        var (warmTook, warmCpu) = (TimeSpan.Zero, new PhaseCpu(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero));
        for (var round = 1; round <= options.ReportingRounds; round++)
        {
            var (took, cpu) = await ReportAllBedsAsync($"beds{round}", cancellationToken).ConfigureAwait(false);
            text.AppendLine($"  round {round}: {Rate(profiles, took, cpu)}");
            if (round > 1)
            {
                (warmTook, warmCpu) = (warmTook + took, warmCpu + cpu);
            }
        }

        if (options.ReportingRounds > 1)
        {
            // A round takes well under a second: the rounds after the first together are the steadier figure.
            text.AppendLine($"  rounds 2-{options.ReportingRounds} together: {Rate(profiles * (options.ReportingRounds - 1), warmTook, warmCpu)}");
        }

        var (rpc, calls, refused, errors, p50, p99, max) = _stats.Summary(["ReportBeds"]).Single(s => s.Rpc == "ReportBeds");
        text.AppendLine($"  {rpc}: {calls} calls, {refused} refused, {errors} errors; p50 {p50:0.00} ms, p99 {p99:0.00} ms, max {max:0.0} ms");
        foreach (var sample in _stats.ErrorSamples)
        {
            text.AppendLine($"  error: {sample}");
        }

        text.AppendLine(_stats.TotalErrors == 0 ? "RESULT: PASS (no errors)" : $"RESULT: FAIL ({_stats.TotalErrors} errors)");
        log.Write(text.ToString());
        return new NationalDayResult(total.Elapsed, _hospitals.Count, 0, 0, _stats.TotalErrors, _violations, text.ToString());
    }

    private static string Rate(int updates, TimeSpan took, PhaseCpu cpu) =>
        $"{updates / took.TotalSeconds,7:0} profile updates/s ({took.TotalSeconds:0.00} s); CPU per update: load tool {cpu.Tool.TotalMicroseconds / updates:0} µs" +
        (cpu.Gateway is { } gateway ? $", gateway {gateway.TotalMicroseconds / updates:0} µs" : "") +
        (cpu.Machine is { } machine ? $", rest of the machine {Math.Max(0, (machine - cpu.Tool - (cpu.Gateway ?? TimeSpan.Zero)).TotalMicroseconds) / updates:0} µs" : "");

    /// <summary>Every hospital reports all its profiles in one ReportBeds: the burst's wall time and the CPU both sides spent on it.</summary>
    private async Task<(TimeSpan Took, PhaseCpu Cpu)> ReportAllBedsAsync(string tag, CancellationToken cancellationToken)
    {
        var hospitals = _hospitals.Values.ToArray();

        // CPU of both sides of the burst: on two shared cores the tool's own share bounds the rate too.
        var cpuBefore = await CpuNowAsync().ConfigureAwait(false);
        var watch = Stopwatch.StartNew();
        await ForEachAsync(hospitals.Length, options.Concurrency, async i =>
        {
            var hospital = hospitals[i];
            var random = new Random(options.Seed ^ hospital.Id.GetHashCode(StringComparison.Ordinal));
            var report = new ReportBedsRequest { RequestId = $"day-{options.Seed}-{_today:yyyyMMdd}-{tag}-{hospital.Id}" };

            // As HospitalAdapter sends them: each count with the time of the export it comes from.
            var exportedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow);
            foreach (var (profile, total) in hospital.Profiles)
            {
                var occupied = (int)(total * (0.55 + random.NextDouble() * 0.45));
                var closed = random.Next(10) == 0 ? Math.Min(1, total - occupied) : 0;
                report.Reports.Add(new BedReport { BedProfileCode = profile, Total = total, Occupied = occupied, Free = total - occupied - closed, ReportedAt = exportedAt });
            }

            await _stats.CallAsync("ReportBeds", () => _channel.UnaryAsync(Api.ReportBeds, report, Deadline(cancellationToken, hospital.Auth))).ConfigureAwait(false);
        }).ConfigureAwait(false);
        var took = watch.Elapsed;
        return (took, await CpuNowAsync().ConfigureAwait(false) - cpuBefore);
    }

    /// <summary>
    /// A polyclinic of the patient's region (any polyclinic when none there has a key) searches
    /// free beds (in that region, else nationwide) and registers a referral to an offer.
    /// </summary>
    private Task MorningPeakAsync(KeyEntry[] polyclinicKeys, CancellationToken cancellationToken)
    {
        var polyclinics = polyclinicKeys.Select(k => Auth(k.key)).ToArray();
        var polyclinicsOfRegion = polyclinicKeys.Where(k => k.region_code is not null)
            .GroupBy(k => k.region_code!).ToDictionary(g => g.Key, g => g.Select(k => Auth(k.key)).ToArray());
        var offered = _hospitals.Values.SelectMany(h => h.Profiles.Keys).ToArray();
        var regions = _hospitals.Values.Select(h => h.RegionCode).Distinct().Order(StringComparer.Ordinal).ToArray();
        var acknowledged = new Acknowledged?[options.Referrals];
        var task = ForEachAsync(options.Referrals, options.Concurrency, async i =>
        {
            var random = new Random(options.Seed * 31 + i);
            var profile = offered[random.Next(offered.Length)];
            var region = regions[random.Next(regions.Length)];
            var ofRegion = polyclinicsOfRegion.GetValueOrDefault(region, polyclinics);
            var polyclinic = ofRegion[i % ofRegion.Length];
            var (local, _) = await _stats.CallAsync("SearchFreeBeds", () => _channel.UnaryAsync(Api.Search,
                new SearchFreeBedsRequest { BedProfileCode = profile, RegionCode = region, MaxResults = 20 }, Deadline(cancellationToken, polyclinic))).ConfigureAwait(false);
            var offers = local?.Offers.Where(o => o.FreeSlotsInRange > 0).ToList() ?? [];
            if (offers.Count == 0)
            {
                var (national, _) = await _stats.CallAsync("SearchFreeBeds", () => _channel.UnaryAsync(Api.Search,
                    new SearchFreeBedsRequest { BedProfileCode = profile, MaxResults = 20 }, Deadline(cancellationToken, polyclinic))).ConfigureAwait(false);
                offers = national?.Offers.Where(o => o.FreeSlotsInRange > 0).ToList() ?? [];
            }

            var iin = Iin(random, _today.AddDays(30), _childProfiles.Contains(profile));
            var diagnoses = NationalDataset.Icd10ByProfile.GetValueOrDefault(profile, ["R69"]);
            foreach (var offer in offers.OrderBy(_ => random.Next()).Take(3))
            {
                var planned = offer.EarliestFreeDate;
                var request = new RegisterReferralRequest
                {
                    RequestId = $"day-{options.Seed}-{_today:yyyyMMdd}-ref-{i}",
                    PatientIin = iin,
                    Icd10Code = diagnoses[random.Next(diagnoses.Length)],
                    BedProfileCode = profile,
                    HospitalId = offer.HospitalId,
                    PlannedDate = planned,
                    Purpose = random.Next(3) == 0 ? TreatmentPurpose.Surgical : TreatmentPurpose.Conservative,
                    FinanceSource = FinanceSource.GuaranteedVolume,
                    PatientLocality = "locality",
                    PatientRegionCode = region,
                };
                var (registered, refused) = await _stats.CallAsync("RegisterReferral", () => _channel.UnaryAsync(Api.Register, request, Deadline(cancellationToken, polyclinic)),
                    ex => ex.StatusCode is StatusCode.FailedPrecondition or StatusCode.AlreadyExists).ConfigureAwait(false);
                if (registered is not null)
                {
                    acknowledged[i] = new Acknowledged(registered.HospitalizationCode, registered.AccessKey, offer.HospitalId, profile,
                        new DateOnly(registered.PlannedDate.Year, registered.PlannedDate.Month, registered.PlannedDate.Day), ReferralStatus.Registered);
                    return;
                }

                if (refused is null)
                {
                    return;
                }

                // Another polyclinic took the last slot of that offer: a new request id for the next one.
                request.RequestId += "-again";
            }
        });
        return task.ContinueWith(_ =>
        {
            task.GetAwaiter().GetResult();
            _acknowledged.AddRange(acknowledged.OfType<Acknowledged>());
        }, cancellationToken, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>Patients check their place in the queue: a few codes are hot (Zipf, s = 1.1).</summary>
    private Task PatientsAsync(CancellationToken cancellationToken)
    {
        var codes = _acknowledged.ToArray();
        if (codes.Length == 0)
        {
            return Task.CompletedTask;
        }

        var cumulative = new double[codes.Length];
        var sum = 0.0;
        for (var rank = 0; rank < codes.Length; rank++)
        {
            cumulative[rank] = sum += 1 / Math.Pow(rank + 1, 1.1);
        }

        return ForEachAsync(options.Lookups, options.LookupConcurrency, async i =>
        {
            var pick = Random.Shared.NextDouble() * sum;
            var index = Array.BinarySearch(cumulative, pick);
            var referral = codes[Math.Min(codes.Length - 1, index < 0 ? ~index : index)];
            var (status, _) = await _stats.CallAsync("GetQueueStatus", () => _channel.UnaryAsync(Api.QueueStatus,
                new GetQueueStatusRequest { HospitalizationCode = referral.Code, AccessKey = referral.AccessKey }, Deadline(cancellationToken))).ConfigureAwait(false);
            if (status is not null && status.Status.HospitalizationCode != referral.Code)
            {
                Violation($"GetQueueStatus({referral.Code}) answered for {status.Status.HospitalizationCode}");
            }
        });
    }

    /// <summary>Hospitals confirm dates, admit today's patients (confirmed first), refuse some; a share of today's never comes.</summary>
    private Task HospitalsAsync(CancellationToken cancellationToken)
    {
        var work = _acknowledged.ToArray();
        return ForEachAsync(work.Length, options.Concurrency, async i =>
        {
            var referral = work[i];
            var random = new Random(options.Seed * 17 + i);
            var auth = _hospitals[referral.HospitalId].Auth;
            var roll = random.NextDouble();
            var today = referral.PlannedDate == _today;
            var outcome = random.NextDouble();
            var admit = today && outcome < 0.7 || !today && outcome < 0.03;

            // Only a scheduled referral is admitted (REGISTERED -> SCHEDULED -> ADMITTED).
            if (roll < 0.6 || admit)
            {
                var (scheduled, _) = await _stats.CallAsync("ScheduleReferral", () => _channel.UnaryAsync(Api.Schedule,
                    new ScheduleReferralRequest { RequestId = $"day-sch-{referral.Code}", HospitalizationCode = referral.Code, PlannedDate = Date(referral.PlannedDate) }, Deadline(cancellationToken, auth))).ConfigureAwait(false);
                if (scheduled is null)
                {
                    return;
                }

                referral.Expected = ReferralStatus.Scheduled;
            }

            if (admit)
            {
                var (admitted, _) = await _stats.CallAsync("AdmitPatient", () => _channel.UnaryAsync(Api.Admit,
                    new AdmitPatientRequest { RequestId = $"day-adm-{referral.Code}", HospitalizationCode = referral.Code }, Deadline(cancellationToken, auth))).ConfigureAwait(false);
                referral.Expected = admitted is null ? referral.Expected : ReferralStatus.Admitted;
            }
            else if (today && outcome < 0.85 || !today && outcome < 0.06)
            {
                var (refused, _) = await _stats.CallAsync("RefusePatient", () => _channel.UnaryAsync(Api.Refuse,
                    new RefusePatientRequest { RequestId = $"day-ref-{referral.Code}", HospitalizationCode = referral.Code, Reason = today ? RefusalReason.NoIndications : RefusalReason.WrongProfile },
                    Deadline(cancellationToken, auth))).ConfigureAwait(false);
                referral.Expected = refused is null ? referral.Expected : ReferralStatus.Refused;
            }
        });
    }

    private async Task NoShowsAsync(CancellationToken cancellationToken)
    {
        if (options.AdvanceClock is null)
        {
            return;
        }

        // No-show: not admitted within 2 days after the planned date; three days on, today's have expired.
        await options.AdvanceClock(TimeSpan.FromDays(3)).ConfigureAwait(false);
        await WaitUntilServingAsync(cancellationToken).ConfigureAwait(false);
        foreach (var referral in _acknowledged.Where(r => r.PlannedDate <= _today && r.Expected is ReferralStatus.Registered or ReferralStatus.Scheduled))
        {
            referral.Expected = ReferralStatus.NoShow;
        }

        _today = _today.AddDays(3);
    }

    private async Task WaitUntilServingAsync(CancellationToken cancellationToken)
    {
        for (var waited = Stopwatch.StartNew(); ; await Task.Delay(100, cancellationToken).ConfigureAwait(false))
        {
            try
            {
                var health = await _channel.UnaryAsync(Api.Health, new HealthCheckRequest(), new CallOptions(null, DateTime.UtcNow.AddSeconds(2), cancellationToken)).ConfigureAwait(false);
                if (health.Status == HealthCheckResponse.Types.ServingStatus.Serving)
                {
                    return;
                }
            }
            catch (RpcException)
            {
                // Not listening yet, or starting.
            }

            if (waited.Elapsed > TimeSpan.FromMinutes(2))
            {
                throw new InvalidOperationException($"The gateway at {options.Server} does not serve 2 minutes after its clock was moved on.");
            }
        }
    }

    /// <summary>
    /// Over every hospital and profile: queue positions 1..n in (planned date, registration) order,
    /// no day reserved beyond its slots, the calendar's reservations equal to the queue's; every
    /// acknowledged referral present with the state the day left it in.
    /// </summary>
    private async Task CheckInvariantsAsync(CancellationToken cancellationToken)
    {
        // Cached queue positions of active referrals may be up to Cache:PositionMaxAgeSeconds (2 s) old.
        await Task.Delay(TimeSpan.FromSeconds(2.5), cancellationToken).ConfigureAwait(false);
        var positions = new System.Collections.Concurrent.ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var keys = _hospitals.Values.SelectMany(h => h.Profiles.Keys.Select(p => (Hospital: h, Profile: p))).ToArray();
        await ForEachAsync(keys.Length, options.Concurrency, async i =>
        {
            var (hospital, profile) = keys[i];
            var queue = new List<Referral>();
            var token = "";
            do
            {
                var (page, _) = await _stats.CallAsync("ListQueue", () => _channel.UnaryAsync(Api.ListQueue,
                    new ListQueueRequest { BedProfileCode = profile, PageSize = 1000, PageToken = token }, Deadline(cancellationToken, hospital.Auth))).ConfigureAwait(false);
                if (page is null)
                {
                    Violation($"{hospital.Id}/{profile}: the queue could not be read");
                    return;
                }

                queue.AddRange(page.Referrals);
                token = page.NextPageToken;
            }
            while (token.Length > 0);

            for (var n = 0; n < queue.Count; n++)
            {
                var referral = queue[n];
                positions[referral.HospitalizationCode] = referral.QueuePosition;
                if (referral.QueuePosition != n + 1 || referral.PeopleAhead != n)
                {
                    Violation($"{hospital.Id}/{profile}: {referral.HospitalizationCode} at index {n} shows position {referral.QueuePosition}, {referral.PeopleAhead} ahead");
                }

                if (referral.Status is not (ReferralStatus.Registered or ReferralStatus.Scheduled))
                {
                    Violation($"{hospital.Id}/{profile}: {referral.HospitalizationCode} is {referral.Status} but in the active queue");
                }

                if (n > 0 && Compare(queue[n - 1], referral) > 0)
                {
                    Violation($"{hospital.Id}/{profile}: {referral.HospitalizationCode} is ahead of an earlier date or registration");
                }
            }

            // Re-setting the probe day to its own slots changes nothing and answers with the whole calendar.
            var (date, slots) = hospital.CalendarProbe.TryGetValue(profile, out var probe) ? probe : (_today.AddDays(30), hospital.Profiles[profile] / 4);
            var request = new SetAdmissionCapacityRequest { RequestId = $"day-{options.Seed}-check-{_today:yyyyMMdd}-{hospital.Id}-{profile}", BedProfileCode = profile };
            request.Days.Add(new AdmissionDay { Date = Date(date.AddDays(0) < _today ? _today.AddDays(30) : date), Slots = slots });
            var (calendar, _) = await _stats.CallAsync("SetAdmissionCapacity (check)", () => _channel.UnaryAsync(Api.SetAdmissionCapacity, request, Deadline(cancellationToken, hospital.Auth))).ConfigureAwait(false);
            if (calendar is null)
            {
                Violation($"{hospital.Id}/{profile}: the calendar could not be read");
                return;
            }

            var queued = queue.GroupBy(r => (r.PlannedDate.Year, r.PlannedDate.Month, r.PlannedDate.Day)).ToDictionary(g => g.Key, g => g.Count());
            foreach (var day in calendar.Days)
            {
                var key = (day.Date.Year, day.Date.Month, day.Date.Day);
                if (day.Reserved > day.Slots || day.OverCapacity)
                {
                    Violation($"{hospital.Id}/{profile}: {key} overbooked, {day.Reserved} reserved of {day.Slots} slots");
                }

                if (day.Reserved != queued.GetValueOrDefault(key))
                {
                    Violation($"{hospital.Id}/{profile}: {key} reserves {day.Reserved} but {queued.GetValueOrDefault(key)} referrals are queued for it");
                }
            }
        }).ConfigureAwait(false);

        var acknowledged = _acknowledged.ToArray();
        await ForEachAsync(acknowledged.Length, options.Concurrency, async i =>
        {
            var referral = acknowledged[i];
            var (status, _) = await _stats.CallAsync("GetQueueStatus (check)", () => _channel.UnaryAsync(Api.QueueStatus,
                new GetQueueStatusRequest { HospitalizationCode = referral.Code, AccessKey = referral.AccessKey }, Deadline(cancellationToken))).ConfigureAwait(false);
            if (status is null)
            {
                Violation($"{referral.Code}: acknowledged but not found");
                return;
            }

            if (status.Status.Status != referral.Expected)
            {
                Violation($"{referral.Code}: {status.Status.Status}, expected {referral.Expected}");
            }

            var active = referral.Expected is ReferralStatus.Registered or ReferralStatus.Scheduled;
            if (active != positions.ContainsKey(referral.Code) || active && positions[referral.Code] != status.Status.QueuePosition)
            {
                Violation($"{referral.Code}: queue position {status.Status.QueuePosition}, the hospital's queue says {positions.GetValueOrDefault(referral.Code)}");
            }
        }).ConfigureAwait(false);
    }

    private static int Compare(Referral a, Referral b)
    {
        var date = (a.PlannedDate.Year, a.PlannedDate.Month, a.PlannedDate.Day).CompareTo((b.PlannedDate.Year, b.PlannedDate.Month, b.PlannedDate.Day));
        return date != 0 ? date : a.RegisteredAt.ToDateTimeOffset().CompareTo(b.RegisteredAt.ToDateTimeOffset());
    }

    private void Violation(string what)
    {
        lock (_violations)
        {
            _violations.Add(what);
        }
    }

    /// <summary>The gateway process's CPU time (user + system) from its /metrics, or null without <see cref="NationalDayOptions.GatewayMetrics"/>.</summary>
    private async Task<TimeSpan?> GatewayCpuAsync(CancellationToken cancellationToken)
    {
        if (options.GatewayMetrics is not { } url)
        {
            return null;
        }

        using var http = new HttpClient();
        var text = await http.GetStringAsync(url, cancellationToken).ConfigureAwait(false);
        return ParseProcessCpu(text);
    }

    /// <summary>The sum of dotnet_process_cpu_time_seconds_total's samples (one per CPU mode) in a Prometheus text exposition.</summary>
    internal static TimeSpan ParseProcessCpu(string exposition)
    {
        var seconds = 0.0;
        foreach (var line in exposition.Split('\n'))
        {
            if (line.StartsWith("dotnet_process_cpu_time_seconds_total", StringComparison.Ordinal))
            {
                seconds += double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return TimeSpan.FromSeconds(seconds);
    }

    private string Report(TimeSpan day, double updatesPerSecond)
    {
        var text = new System.Text.StringBuilder();
        text.AppendLine();
        text.AppendLine($"National day against {options.Server}: scale {options.Scale}, {_hospitals.Count} hospitals, {_acknowledged.Count} referrals acknowledged of {options.Referrals} ({_acknowledged.Count(a => a.Expected == ReferralStatus.NoShow)} left to expire as no-shows), {options.Lookups} lookups");
        foreach (var (phase, took, note, cpu) in _phases)
        {
            text.AppendLine($"  {phase,-24} {took.TotalSeconds,8:0.00} s  {note}");
            text.AppendLine($"  {"",-24} {"",8}    {cpu}");
        }

        text.AppendLine($"  day (reporting hour to no-shows) {day.TotalSeconds:0.00} s; ReportBeds {updatesPerSecond:0} profile updates/s ({_reportBedsTook.TotalSeconds:0.00} s for all hospitals' reports)");
        var profiles = _hospitals.Values.Sum(h => h.Profiles.Count);
        text.AppendLine($"  ReportBeds CPU per profile update: load tool {_reportBedsCpu!.Tool.TotalMicroseconds / Math.Max(1, profiles):0} µs" +
            (_reportBedsCpu.Gateway is { } gateway ? $", gateway {gateway.TotalMicroseconds / Math.Max(1, profiles):0} µs" : ", gateway not measured (--gateway-metrics)"));
        text.AppendLine();
        text.AppendLine($"  {"rpc",-28} {"calls",9} {"calls/s",9} {"refused",8} {"errors",7} {"p50 ms",8} {"p99 ms",8} {"max ms",8}");
        var phaseOf = new Dictionary<string, string> { ["GetHospital"] = "directory", ["ReportBeds"] = "reporting hour", ["SetAdmissionCapacity"] = "reporting hour", ["SearchFreeBeds"] = "morning peak", ["RegisterReferral"] = "morning peak", ["GetQueueStatus"] = "patients and hospitals", ["ScheduleReferral"] = "patients and hospitals", ["AdmitPatient"] = "patients and hospitals", ["RefusePatient"] = "patients and hospitals", ["ListQueue"] = "invariants", ["SetAdmissionCapacity (check)"] = "invariants", ["GetQueueStatus (check)"] = "invariants" };
        foreach (var (rpc, calls, refused, errors, p50, p99, max) in _stats.Summary(Order))
        {
            var seconds = _phases.FirstOrDefault(p => p.Phase == phaseOf.GetValueOrDefault(rpc)).Took.TotalSeconds;
            text.AppendLine($"  {rpc,-28} {calls,9} {(seconds > 0 ? calls / seconds : 0),9:0} {refused,8} {errors,7} {p50,8:0.00} {p99,8:0.00} {max,8:0.0}");
        }

        foreach (var sample in _stats.ErrorSamples)
        {
            text.AppendLine($"  error: {sample}");
        }

        text.AppendLine();
        foreach (var violation in _violations.Take(20))
        {
            text.AppendLine($"  INVARIANT VIOLATED: {violation}");
        }

        text.AppendLine(_stats.TotalErrors == 0 && _violations.Count == 0
            ? "RESULT: PASS (no errors, no invariant violations)"
            : $"RESULT: FAIL ({_stats.TotalErrors} errors, {_violations.Count} invariant violations)");
        return text.ToString();
    }

    private static async Task ForEachAsync(int count, int concurrency, Func<int, Task> body)
    {
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, Math.Min(count, concurrency)).Select(async _ =>
        {
            await Task.Yield();
            for (var i = Interlocked.Increment(ref next); i < count; i = Interlocked.Increment(ref next))
            {
                await body(i).ConfigureAwait(false);
            }
        })).ConfigureAwait(false);
    }

    private static CallOptions Deadline(CancellationToken cancellationToken, Metadata? auth = null) =>
        new(auth, DateTime.UtcNow.AddSeconds(30), cancellationToken);

    private static Metadata Auth(string key) => new() { { "authorization", $"Bearer {key}" } };

    private static CalendarDate Date(DateOnly date) => new() { Year = date.Year, Month = date.Month, Day = date.Day };

    /// <summary>A valid IIN of someone adult or child on <paramref name="onDate"/> (check digit as the bureau computes it).</summary>
    internal static string Iin(Random random, DateOnly onDate, bool child)
    {
        var age = child ? random.Next(1, 16) : random.Next(19, 90);
        var birth = onDate.AddYears(-age).AddDays(-random.Next(1, 360));
        var century = birth.Year >= 2000 ? 5 : 3;
        while (true)
        {
            var digits = $"{birth:yyMMdd}{century + random.Next(2)}{random.Next(10000):D4}";
            if (CheckDigit(digits) is { } check)
            {
                return digits + check;
            }
        }
    }

    private static int? CheckDigit(string digits)
    {
        int Sum(int[] weights)
        {
            var sum = 0;
            for (var i = 0; i < 11; i++)
            {
                sum += (digits[i] - '0') * weights[i];
            }

            return sum % 11;
        }

        var check = Sum([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        check = check == 10 ? Sum([3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]) : check;
        return check == 10 ? null : check;
    }

    private sealed record HospitalState(string Id, string RegionCode, Metadata Auth, Dictionary<string, int> Profiles)
    {
        public System.Collections.Concurrent.ConcurrentDictionary<string, (DateOnly Date, int Slots)> CalendarProbe { get; } = new(StringComparer.Ordinal);
    }

    private sealed class Acknowledged(string code, string accessKey, string hospitalId, string profile, DateOnly plannedDate, ReferralStatus expected)
    {
        public string Code => code;

        public string AccessKey => accessKey;

        public string HospitalId => hospitalId;

        public string Profile => profile;

        public DateOnly PlannedDate => plannedDate;

        public ReferralStatus Expected { get; set; } = expected;
    }

#pragma warning disable IDE1006, SA1300 // demo-keys.json field names
    private sealed record KeyEntry(string organization_id, string kind, string name, string? region_code, string key);
#pragma warning restore IDE1006, SA1300
}
