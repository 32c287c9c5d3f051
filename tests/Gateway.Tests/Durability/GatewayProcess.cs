using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using BedBureau.Contract.Health.V1;
using BedBureau.Gateway.Tests.EndToEnd;
using BedBureau.Wire.Client;

namespace BedBureau.Gateway.Tests.Durability;

/// <summary>
/// The built gateway as a real process (<c>dotnet exec BedBureau.Gateway.dll</c>) on free ports
/// and a data directory of its own, to kill with SIGKILL and start again on the same data.
/// </summary>
public sealed class GatewayProcess : IAsyncDisposable
{
    private readonly IReadOnlyList<string> _settings;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly ConcurrentQueue<string>? _allOutput;
    private Process? _process;

    /// <param name="keepAllOutput">Keep every line written (for tests that read the whole log), not only the last ones.</param>
    public GatewayProcess(IEnumerable<string> settings, bool keepAllOutput = false)
    {
        _settings = settings.ToArray();
        _allOutput = keepAllOutput ? new() : null;
        Directory.CreateDirectory(DataDirectory);
    }

    public string DataDirectory { get; } = Path.Combine(Path.GetTempPath(), "bedbureau-process", Guid.NewGuid().ToString("N"));

    public string GrpcAddress { get; } = $"http://127.0.0.1:{TestPorts.Free()}";

    public string HttpAddress { get; } = $"http://127.0.0.1:{TestPorts.Free()}";

    public IReadOnlyList<GatewayFixture.DemoKey> Keys { get; private set; } = [];

    /// <summary>The gateway built beside the tests (same configuration), with its runtimeconfig and deps.</summary>
    public static string GatewayDll
    {
        get
        {
            var tests = Path.GetDirectoryName(typeof(GatewayProcess).Assembly.Location)!;
            var configuration = new DirectoryInfo(tests).Parent!.Name;
            var root = new DirectoryInfo(tests);
            while (root is not null && !File.Exists(Path.Combine(root.FullName, "BedBureau.sln")))
            {
                root = root.Parent;
            }

            var dll = Path.Combine(root?.FullName ?? throw new InvalidOperationException("BedBureau.sln not found above " + tests),
                "src", "Gateway", "bin", configuration, "net10.0", "BedBureau.Gateway.dll");
            return File.Exists(dll) ? dll : throw new FileNotFoundException("Build the gateway first", dll);
        }
    }

    /// <summary>Starts the process and waits until it serves (migrations, seeding and recovery done).</summary>
    public async Task StartAsync(TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = DataDirectory,
        };
        start.ArgumentList.Add("exec");
        start.ArgumentList.Add(GatewayDll);
        foreach (var setting in (string[])[
            $"--Kestrel:Endpoints:Grpc:Url={GrpcAddress}",
            $"--Kestrel:Endpoints:Http:Url={HttpAddress}",
            $"--Storage:DataDirectory={DataDirectory}",
            "--Logging:LogLevel:Default=Warning",
            "--Patients:LookupsPerSecond=100000",
            "--Patients:LookupBurst=100000",
            .. _settings])
        {
            start.ArgumentList.Add(setting);
        }

        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        var waited = Stopwatch.StartNew();
        using var channel = GrpcChannel.ForAddress(GrpcAddress);
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The gateway exited with {_process.ExitCode}:\n{Output}");
            }

            try
            {
                var health = await channel.UnaryAsync(Api.HealthCheck, new HealthCheckRequest(), CallOptions.WithTimeout(TimeSpan.FromSeconds(2)));
                if (health.Status == HealthCheckResponse.Types.ServingStatus.Serving)
                {
                    break;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or Wire.RpcException or OperationCanceledException or IOException)
            {
            }

            if (waited.Elapsed > (timeout ?? TimeSpan.FromSeconds(90)))
            {
                throw new TimeoutException($"The gateway did not serve within {waited.Elapsed}:\n{Output}");
            }

            await Task.Delay(100);
        }

        Keys = JsonSerializer.Deserialize<List<GatewayFixture.DemoKey>>(await File.ReadAllTextAsync(Path.Combine(DataDirectory, "demo-keys.json")))!;
    }

    public string Output => string.Join('\n', _output.TakeLast(60));

    /// <summary>Every line of standard output and error so far (with keepAllOutput).</summary>
    public IReadOnlyList<string> AllOutput => _allOutput?.ToArray() ?? throw new InvalidOperationException("Start with keepAllOutput to keep every line.");

    public GrpcChannel ChannelFor(GatewayFixture.DemoKey key) => GrpcChannel.ForAddress(GrpcAddress, new GrpcChannelOptions
    {
        DefaultHeaders = new Wire.Metadata { { "authorization", $"Bearer {key.key}" } },
    });

    /// <summary>SIGKILL: no shutdown, no flush, nothing but what was durable survives.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill();
            await process.WaitForExitAsync();
        }

        _process?.Dispose();
        _process = null;
    }

    private void Keep(string? line)
    {
        if (line is not null)
        {
            _allOutput?.Enqueue(line);
            _output.Enqueue(line);
            while (_output.Count > 200 && _output.TryDequeue(out _))
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
