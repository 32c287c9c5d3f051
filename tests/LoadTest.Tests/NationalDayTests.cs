using System.Net;
using System.Net.Sockets;
using BedBureau.Gateway;
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
        var dataDirectory = Path.Combine(Path.GetTempPath(), "bedbureau-loadtest", Guid.NewGuid().ToString("N"));
        var address = $"http://127.0.0.1:{FreePort()}";
        var app = GatewayApp.Build(
        [
            $"--Kestrel:Endpoints:Grpc:Url={address}",
            $"--Kestrel:Endpoints:Http:Url=http://127.0.0.1:{FreePort()}",
            $"--Storage:DataDirectory={dataDirectory}",
            "--Sample:Hospitals=40",
            "--Sample:Referrals=400",
            "--Sample:HospitalKeys=40",
            "--Patients:LookupsPerSecond=1000000000",
            "--Patients:LookupBurst=1000000000",
            "--Logging:LogLevel:Default=Warning",
        ], builder => builder.Services.AddSingleton<TimeProvider>(time));
        try
        {
            await GatewayApp.InitializeAsync(app);
            await app.StartAsync();
            using var log = new StringWriter();
            var day = new NationalDay(new NationalDayOptions
            {
                Server = address,
                KeysFile = Path.Combine(dataDirectory, "demo-keys.json"),
                Scale = 0.01,
                Concurrency = 16,
                LookupConcurrency = 32,
                Today = DateOnly.FromDateTime(time.GetUtcNow().ToOffset(TimeSpan.FromHours(5)).DateTime),
                AdvanceClock = by =>
                {
                    time.Advance(by);
                    return Task.CompletedTask;
                },
            }, log);

            var result = await day.RunAsync(CancellationToken.None);

            output.WriteLine(log.ToString());
            Assert.True(result.Passed, result.Report);
            Assert.Equal(40, result.Hospitals);
            Assert.InRange(result.Acknowledged, 80, 85);
            Assert.True(result.NoShows > 0, "some of today's referrals were left to expire as no-shows");
            Assert.Contains("RESULT: PASS", result.Report, StringComparison.Ordinal);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            try
            {
                Directory.Delete(dataDirectory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
