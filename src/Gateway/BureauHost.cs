using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using BedBureau.BedGrain;
using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Runtime;
using BedBureau.Gateway.ReferenceData;
using BedBureau.Gateway.Sample;
using BedBureau.Gateway.Security;
using BedBureau.Gateway.Storage;

namespace BedBureau.Gateway;

/// <summary>
/// Brings the bureau up: migrates the database, loads the directory, seeds the national sample
/// into an empty embedded database, and rebuilds the search index from storage.
/// </summary>
public sealed partial class BureauHost(
    IConfiguration configuration,
    TimeProvider time,
    StorageMetrics storageMetrics,
    ReferralEventHub events,
    Cache.LookupCache cache,
    ILogger<BureauHost> logger) : IAsyncDisposable
{
    private Bureau? _bureau;
    private GatewayStorage? _storage;
    private PersonalDataProtector? _protector;

    public Bureau Bureau => _bureau ?? throw new Wire.RpcException(Wire.StatusCode.Unavailable, "The bureau is starting.");

    /// <summary>The bureau, or null while it is starting: for metrics, which must not throw.</summary>
    internal Bureau? BureauIfStarted => _bureau;

    public GatewayStorage Storage => _storage ?? throw new Wire.RpcException(Wire.StatusCode.Unavailable, "The bureau is starting.");

    public PersonalDataProtector Protector => _protector ?? throw new Wire.RpcException(Wire.StatusCode.Unavailable, "The bureau is starting.");

    public IReadOnlyDictionary<string, HospitalRecord> Hospitals { get; private set; } = new Dictionary<string, HospitalRecord>();

    public string DataDirectory => GatewayStorage.DataDirectoryOf(configuration);

    public string DemoKeysFile => Path.Combine(DataDirectory, "demo-keys.json");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (time is DrillClock drill)
        {
            LogDrillClock(logger, drill.Ahead.TotalDays);
        }

        var calendar = WorkingDays(configuration);
        Directory.CreateDirectory(DataDirectory);
        await cache.StartAsync(logger).ConfigureAwait(false);
        _storage = GatewayStorage.Create(configuration, DataDirectory, time, storageMetrics);
        await _storage.MigrateAsync(cancellationToken).ConfigureAwait(false);
        _protector = new PersonalDataProtector(PersonalDataSecret());

        var hospitals = await _storage.Directory.ListHospitalsAsync(cancellationToken).ConfigureAwait(false);
        var sample = hospitals.Count == 0 && configuration.GetValue("Sample:Enabled", true)
            ? NationalDataset.Generate(configuration.GetValue("Sample:Seed", 2026), WorkingDayCalendar.LocalDate(time.GetUtcNow()),
                configuration.GetValue("Sample:Hospitals", 1400), configuration.GetValue("Sample:Referrals", 3000))
            : null;
        if (time is DrillClock && sample is null && !File.Exists(DemoKeysFile))
        {
            // Ahead, it would expire referrals as no-shows days early, and nothing brings them back.
            throw new InvalidOperationException(
                $"{DrillClock.Setting} runs only on a store seeded with the national sample (the data directory has no {Path.GetFileName(DemoKeysFile)}): never on a service's own.");
        }

        if (sample is not null)
        {
            hospitals = sample.Hospitals.Select(h => new HospitalRecord(h.Id, h.Bin, h.Name, h.RegionCode, h.Locality, h.Profiles.Select(p => p.ProfileCode).ToArray())).ToArray();
            await _storage.Directory.SaveHospitalsAsync(hospitals, cancellationToken).ConfigureAwait(false);
        }

        Hospitals = hospitals.ToDictionary(h => h.Id);
        var directory = new ReferenceDirectory(
            hospitals.Select(h => new Hospital(h.Id, h.Name, h.RegionCode, h.ProfileCodes.ToHashSet())),
            ReferenceCatalog.BedProfiles.Select(p => new BedProfile(p.Code, p.IsChild, p.NameEn)));
        var options = new BedGrainOptions { StaleAfter = TimeSpan.FromHours(configuration.GetValue("Bureau:StaleAfterHours", 24.0)) };
        var runtime = new GrainRuntimeOptions
        {
            MailboxBound = configuration.GetValue("Bureau:MailboxBound", 1000),
            // Hospitals report once a day or more: a grain idle for a day and a bit leaves memory;
            // one idle for minutes only lets go of its referrals, so the next report finds it active.
            IdleTimeout = TimeSpan.FromMinutes(configuration.GetValue("Bureau:IdleMinutes", 26 * 60.0)),
            TrimAfter = TimeSpan.FromMinutes(configuration.GetValue("Bureau:TrimMinutes", 15.0)),
        };
        var durable = PatientRuleIsDurable(configuration, _storage.Dialect);
        var started = time.GetTimestamp();

        // Adopted before any registration, alongside the recovery (the database does the one,
        // this process the other).
        var adopting = durable ? _storage.Patients.AdoptActiveReferralsAsync(cancellationToken) : Task.FromResult(0);
        _bureau = new Bureau(directory, _storage.Grains, _protector, time, options, runtime, calendar, new BedGrainObservers(events, cache),
            patientStorage: durable ? _storage.Patients : null);

        if (sample is not null)
        {
            await adopting.ConfigureAwait(false);
            await SeedAsync(sample, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var recovering = _bureau.RecoverAsync(cancellationToken);
            await Task.WhenAll(adopting, recovering).ConfigureAwait(false);
            var grains = await recovering.ConfigureAwait(false);
            if (durable)
            {
                LogRecoveredDurable(logger, grains, await adopting.ConfigureAwait(false), time.GetElapsedTime(started).TotalSeconds);
            }
            else
            {
                LogRecovered(logger, grains, _bureau.PatientHolds.Count, time.GetElapsedTime(started).TotalSeconds);
            }
        }
    }

    /// <summary>
    /// The working days, with <c>Bureau:DaysOff</c> (Kurban Ait, days off moved by decree) and
    /// <c>Bureau:WorkingDays</c> (days a decree makes working): each a list of yyyy-MM-dd dates,
    /// or one comma-separated value. A date that does not parse stops the start.
    /// </summary>
    internal static WorkingDayCalendar WorkingDays(IConfiguration configuration)
    {
        var daysOff = Dates(configuration, "Bureau:DaysOff");
        var workingDays = Dates(configuration, "Bureau:WorkingDays");
        try
        {
            return new WorkingDayCalendar(daysOff, workingDays);
        }
        catch (ArgumentException e)
        {
            throw new InvalidOperationException($"Bureau:DaysOff and Bureau:WorkingDays: {e.Message}", e);
        }
    }

    private static List<DateOnly> Dates(IConfiguration configuration, string key)
    {
        var section = configuration.GetSection(key);
        var values = section.GetChildren().Select(child => (child.Path, child.Value ?? "")).ToList();
        if (section.Value is { } list)
        {
            values.AddRange(list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(value => (key, value)));
        }

        var dates = new List<DateOnly>(values.Count);
        foreach (var (path, value) in values)
        {
            if (!DateOnly.TryParseExact(value.Trim(), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
            {
                throw new InvalidOperationException($"{path} is \"{value}\", not a date: give days as yyyy-MM-dd, e.g. 2026-05-27.");
            }

            dates.Add(date);
        }

        return dates;
    }

    /// <summary>
    /// <c>Bureau:PatientRule</c>: <c>Durable</c> (patient grains on the database, exact across
    /// nodes) or <c>Process</c> (holds in this process, rebuilt at start-up: one node only). By
    /// default durable on PostgreSQL, which several nodes may share, and in-process on the
    /// embedded SQLite, which one process owns.
    /// </summary>
    internal static bool PatientRuleIsDurable(IConfiguration configuration, SqlDialect dialect) => configuration["Bureau:PatientRule"] switch
    {
        null or "" => dialect == SqlDialect.Postgres,
        var rule when rule.Equals("Durable", StringComparison.OrdinalIgnoreCase) => true,
        var rule when rule.Equals("Process", StringComparison.OrdinalIgnoreCase) => false,
        var rule => throw new InvalidOperationException($"Bureau:PatientRule must be Durable or Process, not '{rule}'."),
    };

    /// <summary>The embedded default keeps a generated secret in the data directory; production configures one.</summary>
    private string PersonalDataSecret()
    {
        if (configuration["Security:PersonalDataSecret"] is { Length: > 0 } configured)
        {
            return configured;
        }

        if (_storage!.Dialect == SqlDialect.Postgres)
        {
            throw new InvalidOperationException("Security:PersonalDataSecret must be configured when running on PostgreSQL.");
        }

        var path = Path.Combine(DataDirectory, "personal-data.secret");
        if (!File.Exists(path))
        {
            File.WriteAllText(path, Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)));
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
        }

        return File.ReadAllText(path).Trim();
    }

    private async Task SeedAsync(NationalDataset sample, CancellationToken cancellationToken)
    {
        var bureau = Bureau;
        var today = WorkingDayCalendar.LocalDate(time.GetUtcNow());
        var organizations = Storage.Organizations;
        foreach (var hospital in sample.Hospitals)
        {
            await organizations.SaveOrganizationAsync(new Organization(hospital.Id, OrganizationKind.Hospital, hospital.Name, hospital.Bin, hospital.RegionCode), cancellationToken).ConfigureAwait(false);
        }

        var polyclinics = sample.Polyclinics.Select(p => new Organization(p.Id, OrganizationKind.Polyclinic, p.Name, p.Bin, p.RegionCode)).ToArray();
        var admin = new Organization("MOH", OrganizationKind.Admin, "Ministry of Health", "990340000004", "71");
        foreach (var organization in polyclinics.Append(admin))
        {
            await organizations.SaveOrganizationAsync(organization, cancellationToken).ConfigureAwait(false);
        }

        // Three hospitals' and two polyclinics' keys for a demo (PC-75-001 and PC-71-002 first: the
        // docs and benchmarks name them); the national-day load test asks for every one's.
        var demoPolyclinics = polyclinics.OrderBy(p => p.Id switch { "PC-75-001" => 0, "PC-71-002" => 1, _ => 2 });
        var demo = sample.Hospitals.Take(configuration.GetValue("Sample:HospitalKeys", 3)).Select(h => new Organization(h.Id, OrganizationKind.Hospital, h.Name, h.Bin, h.RegionCode))
            .Concat(demoPolyclinics.Take(configuration.GetValue("Sample:PolyclinicKeys", 2))).Append(admin);
        var keys = new List<object>();
        foreach (var organization in demo)
        {
            var key = await ApiKeys.IssueAsync(organizations, organization.Id, time, cancellationToken).ConfigureAwait(false);
            keys.Add(new { organization_id = organization.Id, kind = organization.Kind.ToString().ToUpperInvariant(), name = organization.Name, region_code = organization.RegionCode, key = key.ToString() });
        }

        await File.WriteAllTextAsync(DemoKeysFile, JsonSerializer.Serialize(keys, new JsonSerializerOptions { WriteIndented = true }), cancellationToken).ConfigureAwait(false);

        // Calendars and censuses through the grains, many at once so group commit batches them.
        var work = new List<Func<Task>>();
        foreach (var hospital in sample.Hospitals)
        {
            var actor = new Actor(hospital.Id, ActorRole.Hospital);
            foreach (var profile in hospital.Profiles)
            {
                var key = new BedGrainKey(hospital.Id, profile.ProfileCode);
                var days = Enumerable.Range(0, 30).Select(d => new BedGrain.Storage.CalendarSlots(today.AddDays(d), profile.SlotsPerDay)).ToArray();
                work.Add(async () =>
                {
                    await bureau.SetAdmissionCapacityAsync(key, actor, "sample-calendar", days, cancellationToken).ConfigureAwait(false);
                    await bureau.ReportBedsAsync(key, actor, "sample-census", new BedReport(profile.Total, profile.Occupied, profile.Total - profile.Occupied, 0, 0, null), cancellationToken).ConfigureAwait(false);
                });
            }
        }

        await RunAllAsync(work, 256).ConfigureAwait(false);
        var registered = 0;
        work.Clear();
        foreach (var (referral, index) in sample.Referrals.Select((r, i) => (r, i)))
        {
            work.Add(async () =>
            {
                try
                {
                    await bureau.RegisterAsync(new BedGrainKey(referral.HospitalId, referral.ProfileCode), new RegisterReferral(
                        $"sample-{index}", new Actor(referral.PolyclinicId, ActorRole.Polyclinic), referral.PatientIin, referral.Icd10Code, referral.PlannedDate,
                        referral.Surgical ? TreatmentPurpose.Surgical : TreatmentPurpose.Conservative, FinanceSource.GuaranteedVolume, "", referral.PatientRegionCode), cancellationToken).ConfigureAwait(false);
                    Interlocked.Increment(ref registered);
                }
                catch (DomainException)
                {
                    // The sample's own rules (one patient per profile) may refuse a generated pair.
                }
            });
        }

        await RunAllAsync(work, 256).ConfigureAwait(false);
        await Storage.AfterBulkLoadAsync(cancellationToken).ConfigureAwait(false);
        LogSeeded(logger, sample.Hospitals.Count, sample.TotalBeds, sample.Polyclinics.Count, registered, DemoKeysFile);
    }

    private static async Task RunAllAsync(List<Func<Task>> work, int parallel)
    {
        using var gate = new SemaphoreSlim(parallel);
        await Task.WhenAll(work.Select(async job =>
        {
            await gate.WaitAsync().ConfigureAwait(false);
            try
            {
                await job().ConfigureAwait(false);
            }
            finally
            {
                gate.Release();
            }
        })).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_bureau is not null)
        {
            await _bureau.DisposeAsync().ConfigureAwait(false);
        }

        if (_storage is not null)
        {
            await _storage.DisposeAsync().ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Recovered {Grains} bed grains and {Holds} active referrals from storage in {Seconds:F2} s")]
    private static partial void LogRecovered(ILogger logger, int grains, int holds, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Recovered {Grains} bed grains from storage in {Seconds:F2} s; the patient rule is durable (patient grains), {Adopted} active referrals adopted into them")]
    private static partial void LogRecoveredDurable(ILogger logger, int grains, int adopted, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The bureau's clock runs {Days} days ahead of this machine's (" + DrillClock.Setting + "): a drill, not a service")]
    private static partial void LogDrillClock(ILogger logger, double days);

    [LoggerMessage(Level = LogLevel.Information, Message = "Seeded the national sample: {Hospitals} hospitals, {Beds} beds, {Polyclinics} polyclinics, {Referrals} referrals; demo API keys in {KeysFile}")]
    private static partial void LogSeeded(ILogger logger, int hospitals, int beds, int polyclinics, int referrals, string keysFile);
}
