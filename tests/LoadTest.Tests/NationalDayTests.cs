using System.Net;
using System.Net.Sockets;
using BedBureau.BedGrain;
using BedBureau.BedGrain.Domain;
using BedBureau.Gateway;
using BedBureau.Gateway.Sample;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace BedBureau.LoadTest.Tests;

/// <summary>The load tool's short national day against a real gateway, as CI runs it.</summary>
public sealed class NationalDayTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_short_national_day_runs_without_errors_and_the_store_keeps_its_invariants()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var gateway = await LoadTestGateway.StartAsync(time);
        try
        {
            using var log = new StringWriter();
            var day = new NationalDay(new NationalDayOptions
            {
                Server = gateway.Address,
                KeysFile = gateway.KeysFile,
                Scale = 0.01,
                Concurrency = 16,
                LookupConcurrency = 32,
                GatewayMetrics = gateway.Metrics,
                Today = DateOnly.FromDateTime(time.GetUtcNow().ToOffset(TimeSpan.FromHours(5)).DateTime),
                // As bench/nationalday/run.sh does: the gateway restarted on its store, its clock ahead.
                AdvanceClock = async by => gateway = await gateway.RestartAsync($"--Drill:ClockAheadDays={by.TotalDays}"),
            }, log);

            var result = await day.RunAsync(CancellationToken.None);

            output.WriteLine(log.ToString());
            Assert.True(result.Passed, result.Report);
            Assert.Equal(40, result.Hospitals);
            Assert.InRange(result.Acknowledged, 80, 85);
            Assert.True(result.NoShows > 0, "some of today's referrals were left to expire as no-shows");
            Assert.Contains("RESULT: PASS", result.Report, StringComparison.Ordinal);

            // Here the gateway shares the process, so its figure includes the tool's: only that both were read.
            Assert.Matches(@"ReportBeds CPU per profile update: load tool \d+ µs, gateway \d+ µs", result.Report);

            // Polyclinics refer with diagnoses that fit the bed profile.
            var bureau = gateway.Bureau;
            var referrals = await Task.WhenAll(result.AcknowledgedCodes.Select(code => bureau.GetAsync(code)));
            Assert.All(referrals, r => Assert.Contains(r.Referral.Icd10Code, NationalDataset.Icd10ByProfile[r.Referral.ProfileCode]));
            Assert.True(referrals.Select(r => r.Referral.Icd10Code).Distinct().Count() > 5, "diagnoses vary with the profile");

            // Expired by the restarted gateway, on its clock 3 days ahead.
            var noShows = referrals.Where(r => r.Referral.Status == ReferralStatus.NoShow).ToArray();
            Assert.Equal(result.NoShows, noShows.Length);
            Assert.All(noShows, r => Assert.Equal(time.GetUtcNow().AddDays(3), r.Referral.UpdatedAt));

            // Every region's polyclinics have keys here: each patient is referred by one of their own region.
            Assert.All(referrals, r => Assert.StartsWith($"PC-{r.Referral.PatientRegionCode}-", r.Referral.ReferringOrganizationId, StringComparison.Ordinal));
            Assert.True(referrals.Select(r => r.Referral.ReferringOrganizationId).Distinct().Count() > 10, "many polyclinics refer");
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }

    [Fact]
    public async Task Reporting_rounds_commit_every_profile_of_every_hospital_once_per_round()
    {
        // The bureau's clock a minute behind the hospitals': a count without its own time would be stamped then.
        await using var gateway = await LoadTestGateway.StartAsync(new FakeTimeProvider(DateTimeOffset.UtcNow.AddMinutes(-1)));
        var bureau = gateway.Bureau;
        var grains = bureau.Directory.Hospitals.SelectMany(h => h.ProfileCodes.Select(p => new BedGrainKey(h.Id, p))).ToArray();
        async Task<long[]> VersionsAsync() => await Task.WhenAll(grains.Select(key => bureau.Grains.CallAsync(key, 0, static (grain, _) => Task.FromResult(grain.Version))));
        var before = await VersionsAsync();
        var started = DateTimeOffset.UtcNow;
        using var log = new StringWriter();

        var result = await new NationalDay(new NationalDayOptions
        {
            Server = gateway.Address,
            KeysFile = gateway.KeysFile,
            Concurrency = 16,
            GatewayMetrics = gateway.Metrics,
            ReportingRounds = 3,
        }, log).RunAsync(CancellationToken.None);

        output.WriteLine(log.ToString());
        Assert.True(result.Passed, result.Report);
        Assert.Equal(3, System.Text.RegularExpressions.Regex.Matches(result.Report, @"round \d: +\d+ profile updates/s \([\d.]+ s\); CPU per update: load tool \d+ µs, gateway \d+ µs").Count);
        Assert.Matches(@"rounds 2-3 together: +\d+ profile updates/s", result.Report);
        Assert.Contains("ReportBeds: 120 calls, 0 refused, 0 errors", result.Report, StringComparison.Ordinal);
        var after = await VersionsAsync();
        Assert.All(grains.Select((key, i) => (key, Commits: after[i] - before[i])), g => Assert.True(g.Commits == 3, $"{g.key}: {g.Commits} commits"));

        // Each count carries its export's time, as HospitalAdapter sends it: the last round's stands.
        Assert.All(grains, key => Assert.InRange(bureau.FreeBeds.CensusOf(key)!.ReportedAt, started, DateTimeOffset.UtcNow));
    }

    [Fact]
    public void The_gateway_CPU_is_the_sum_of_the_process_CPU_samples_of_its_metrics()
    {
        const string exposition = """
            # HELP dotnet_process_cpu_time_seconds_total CPU time used by the process.
            # TYPE dotnet_process_cpu_time_seconds_total counter
            dotnet_process_cpu_time_seconds_total{cpu_mode="system"} 14.060376
            dotnet_process_cpu_time_seconds_total{cpu_mode="user"} 39.151658
            dotnet_process_cpu_count 2
            """;

        Assert.Equal(53.212034, NationalDay.ParseProcessCpu(exposition).TotalSeconds, precision: 6);
        Assert.Equal(TimeSpan.Zero, NationalDay.ParseProcessCpu("dotnet_process_cpu_count 2\n"));
    }
}

/// <summary>A gateway on the sample data (40 hospitals, each with a key) in this process, on a port of its own.</summary>
internal sealed class LoadTestGateway : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly TimeProvider _time;
    private readonly string _dataDirectory;
    private readonly string _http;

    private LoadTestGateway(WebApplication app, TimeProvider time, string dataDirectory, string address, string http)
    {
        _app = app;
        _time = time;
        _http = http;
        _dataDirectory = dataDirectory;
        Address = address;
        Metrics = $"{http}/metrics";
    }

    public string Address { get; }

    public string Metrics { get; }

    public string KeysFile => Path.Combine(_dataDirectory, "demo-keys.json");

    public Bureau Bureau => _app.Services.GetRequiredService<BureauHost>().Bureau;

    public static Task<LoadTestGateway> StartAsync(TimeProvider time) =>
        StartAsync(time, Path.Combine(Path.GetTempPath(), "bedbureau-loadtest", Guid.NewGuid().ToString("N")),
            $"http://127.0.0.1:{TestPorts.Free()}", $"http://127.0.0.1:{TestPorts.Free()}", []);

    /// <summary>Stops this gateway and starts another on its store and addresses, with <paramref name="settings"/> too.</summary>
    public async Task<LoadTestGateway> RestartAsync(params string[] settings)
    {
        await StopAsync();
        return await StartAsync(_time, _dataDirectory, Address, _http, settings);
    }

    private static async Task<LoadTestGateway> StartAsync(TimeProvider time, string dataDirectory, string address, string http, string[] settings)
    {
        var app = GatewayApp.Build(
        [
            $"--Kestrel:Endpoints:Grpc:Url={address}",
            $"--Kestrel:Endpoints:Http:Url={http}",
            $"--Storage:DataDirectory={dataDirectory}",
            "--Sample:Hospitals=40",
            "--Sample:Referrals=400",
            "--Sample:HospitalKeys=40",
            "--Sample:PolyclinicKeys=1000",
            "--Patients:LookupsPerSecond=1000000000",
            "--Patients:LookupBurst=1000000000",
            "--Logging:LogLevel:Default=Warning",
            .. settings,
        ], builder => builder.Services.AddSingleton(time));
        var gateway = new LoadTestGateway(app, time, dataDirectory, address, http);
        try
        {
            await GatewayApp.InitializeAsync(app);
            await app.StartAsync();
            return gateway;
        }
        catch
        {
            await gateway.DisposeAsync();
            throw;
        }
    }

    private async Task StopAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
