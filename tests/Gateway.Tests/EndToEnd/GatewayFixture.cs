using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using BedBureau.Contract.V1;
using BedBureau.Wire;
using BedBureau.Wire.Client;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace BedBureau.Gateway.Tests.EndToEnd;

/// <summary>
/// A real gateway on Kestrel (free loopback ports), on SQLite in a temporary data directory
/// with a small national sample, a fake clock, and clients holding the demo API keys.
/// Variants add settings (another storage, a cache) through <see cref="SettingsAsync"/>.
/// </summary>
public class GatewayFixture : IAsyncLifetime
{
    public static readonly DateTimeOffset Start = new(2026, 11, 23, 9, 0, 0, TimeSpan.FromHours(5));

    private WebApplication? _app;

    public FakeTimeProvider Time { get; } = new(Start);

    /// <summary>Where the gateway keeps its files; a second node on the same PostgreSQL reads the first one's demo keys from it.</summary>
    public string DataDirectory { get; init; } = Path.Combine(Path.GetTempPath(), "bedbureau-e2e", Guid.NewGuid().ToString("N"));

    public string GrpcAddress { get; private set; } = "";

    public string HttpAddress { get; private set; } = "";

    public IReadOnlyList<DemoKey> Keys { get; private set; } = [];

    public GrpcChannel Anonymous { get; private set; } = null!;

    public WebApplication App => _app!;

    /// <summary>Settings added to the command line, as "--Key=value".</summary>
    protected virtual Task<IEnumerable<string>> SettingsAsync() => Task.FromResult<IEnumerable<string>>([]);

    public T Service<T>()
        where T : notnull => App.Services.GetRequiredService<T>();

    public virtual async Task InitializeAsync()
    {
        var grpcPort = TestPorts.Free();
        var httpPort = TestPorts.Free();
        GrpcAddress = $"http://127.0.0.1:{grpcPort}";
        HttpAddress = $"http://127.0.0.1:{httpPort}";
        await StartAppAsync();
        Keys = JsonSerializer.Deserialize<List<DemoKey>>(await File.ReadAllTextAsync(Path.Combine(DataDirectory, "demo-keys.json")))!;
        Anonymous = GrpcChannel.ForAddress(GrpcAddress);
    }

    /// <summary>
    /// Stops the gateway and starts a new one on the same data directory and ports: every grain
    /// is activated again from storage, so what a test reads afterwards is what was persisted.
    /// </summary>
    public async Task RestartAsync()
    {
        await _app!.StopAsync();
        await _app.DisposeAsync();
        _app = null;
        await StartAppAsync();
    }

    private async Task StartAppAsync()
    {
        _app = GatewayApp.Build(
        [
            $"--Kestrel:Endpoints:Grpc:Url={GrpcAddress}",
            $"--Kestrel:Endpoints:Http:Url={HttpAddress}",
            $"--Storage:DataDirectory={DataDirectory}",
            "--Sample:Hospitals=40",
            "--Sample:Referrals=200",
            // The clock is fake and mostly still, so the lookup bucket barely refills: the burst
            // is all a fixture's tests get. The limiter's own tests set their limits.
            "--Patients:LookupBurst=1000000",
            "--Patients:FailedLookupBurst=1000000",
            "--Logging:LogLevel:Default=Warning",
            .. await SettingsAsync(),
        ], builder => builder.Services.AddSingleton<TimeProvider>(Time));
        await GatewayApp.InitializeAsync(_app);
        await _app.StartAsync();
    }

    public DateOnly Today => DateOnly.FromDateTime(Time.GetUtcNow().ToOffset(TimeSpan.FromHours(5)).DateTime);

    public DemoKey Hospital(int index = 0) => Keys.Where(k => k.kind == "HOSPITAL").ElementAt(index);

    public DemoKey Polyclinic(int index = 0) => Keys.Where(k => k.kind == "POLYCLINIC").ElementAt(index);

    public DemoKey Admin => Keys.Single(k => k.kind == "ADMIN");

    public GrpcChannel ChannelFor(DemoKey key) => GrpcChannel.ForAddress(GrpcAddress, new GrpcChannelOptions
    {
        DefaultHeaders = new Metadata { { "authorization", $"Bearer {key.key}" } },
    });

    public static Method<TRequest, TResponse> Method<TRequest, TResponse>(Google.Protobuf.Reflection.ServiceDescriptor service, string name)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse> => Wire.Method<TRequest, TResponse>.Of(service, name);

    public static CalendarDate Date(DateOnly date) => new() { Year = date.Year, Month = date.Month, Day = date.Day };

    public virtual async Task DisposeAsync()
    {
        Anonymous?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

#pragma warning disable IDE1006, SA1300 // the demo-keys.json field names
    public sealed record DemoKey(string organization_id, string kind, string name, string key);
#pragma warning restore IDE1006, SA1300
}

[CollectionDefinition(Name)]
public sealed class GatewayCollection : ICollectionFixture<GatewayFixture>
{
    public const string Name = "gateway";
}
