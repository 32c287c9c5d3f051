using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using BedBureau.Contract.V1;
using BedBureau.Gateway;
using BedBureau.HospitalAdapter.Input;
using BedBureau.HospitalAdapter.Push;
using BedBureau.Wire;
using BedBureau.Wire.Client;
using Microsoft.AspNetCore.Builder;

namespace BedBureau.HospitalAdapter.Tests;

/// <summary>
/// A real gateway on Kestrel, on SQLite in a temporary data directory with a small national
/// sample, on the real clock (the adapter checks calendar dates against today).
/// </summary>
public sealed class TestGateway : IAsyncDisposable
{
    private readonly WebApplication _app;
    private bool _stopped;

    private TestGateway(WebApplication app, string address, string dataDirectory, string hospitalId, string hospitalKey)
    {
        _app = app;
        Address = address;
        DataDirectory = dataDirectory;
        HospitalId = hospitalId;
        HospitalKey = hospitalKey;
    }

    public string Address { get; }

    public string DataDirectory { get; }

    /// <summary>The first demo hospital and its API key.</summary>
    public string HospitalId { get; }

    public string HospitalKey { get; }

    /// <param name="dataDirectory">An existing one restarts that bureau (same keys and data); none seeds a new one.</param>
    /// <param name="settings">More settings as command-line arguments, e.g. another Kestrel endpoint.</param>
    public static async Task<TestGateway> StartAsync(int? grpcPort = null, string? dataDirectory = null, IReadOnlyList<string>? settings = null)
    {
        dataDirectory ??= Path.Combine(Path.GetTempPath(), "bedbureau-adapter-tests", Guid.NewGuid().ToString("N"));
        var address = $"http://127.0.0.1:{grpcPort ?? TestPorts.Free()}";
        var app = GatewayApp.Build(
        [
            $"--Kestrel:Endpoints:Grpc:Url={address}",
            $"--Kestrel:Endpoints:Http:Url=http://127.0.0.1:{TestPorts.Free()}",
            $"--Storage:DataDirectory={dataDirectory}",
            "--Sample:Hospitals=20",
            "--Sample:Referrals=50",
            "--Logging:LogLevel:Default=Warning",
            .. settings ?? [],
        ]);
        await GatewayApp.InitializeAsync(app);
        await app.StartAsync();
        using var keys = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(dataDirectory, "demo-keys.json")));
        var hospital = keys.RootElement.EnumerateArray().First(k => k.GetProperty("kind").GetString() == "HOSPITAL");
        return new TestGateway(app, address, dataDirectory, hospital.GetProperty("organization_id").GetString()!, hospital.GetProperty("key").GetString()!);
    }

    /// <summary>The hospital as the public directory shows it: its profiles and their censuses.</summary>
    public async Task<GetHospitalResponse> GetHospitalAsync()
    {
        using var channel = GrpcChannel.ForAddress(Address);
        return await channel.UnaryAsync(BureauClient.GetHospitalMethod, new GetHospitalRequest { HospitalId = HospitalId });
    }

    /// <summary>A channel that calls as the hospital (its API key), through <paramref name="handler"/> if given.</summary>
    public GrpcChannel HospitalChannel(HttpMessageHandler? handler = null) => GrpcChannel.ForAddress(Address, new GrpcChannelOptions
    {
        Handler = handler,
        DefaultHeaders = new Metadata { { "authorization", $"Bearer {HospitalKey}" } },
    });

    /// <summary>The slots the bureau has for a date of one of the hospital's profiles, read from its answer to a change of another date (today + 89 set to 0).</summary>
    public async Task<int> SlotsAsync(string profile, DateOnly date)
    {
        var probeDate = ExportRules.Today(DateTimeOffset.UtcNow).AddDays(89);
        var probe = new SetAdmissionCapacityRequest { RequestId = $"probe-{Guid.NewGuid():N}", BedProfileCode = profile };
        probe.Days.Add(new AdmissionDay { Date = new CalendarDate { Year = probeDate.Year, Month = probeDate.Month, Day = probeDate.Day }, Slots = 0 });
        using var channel = HospitalChannel();
        var days = (await channel.UnaryAsync(BureauClient.SetAdmissionCapacityMethod, probe)).Days;
        return days.Single(d => (d.Date.Year, d.Date.Month, d.Date.Day) == (date.Year, date.Month, date.Day)).Slots;
    }

    /// <summary>Stops serving and keeps the data directory, for a restart.</summary>
    public async Task StopAsync()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>One gateway shared by the tests that only push to it.</summary>
public sealed class GatewayFixture : IAsyncLifetime
{
    public TestGateway Gateway { get; private set; } = null!;

    public async Task InitializeAsync() => Gateway = await TestGateway.StartAsync();

    public async Task DisposeAsync() => await Gateway.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class GatewayCollection : ICollectionFixture<GatewayFixture>
{
    public const string Name = "gateway";
}
