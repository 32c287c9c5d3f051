using System.Diagnostics;
using System.Net.Sockets;
using BedBureau.Gateway.Tests.EndToEnd;

namespace BedBureau.Gateway.Tests.Cache;

/// <summary>
/// A redis-server of the test's own (BEDBUREAU_TEST_REDIS_SERVER) on a free loopback port, to
/// kill, pause and restart; the shared one (BEDBUREAU_TEST_REDIS) is never touched.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private Process? _process;

    public int Port { get; } = TestPorts.Free();

    public string Configuration => $"127.0.0.1:{Port}";

    public static string Executable =>
        Environment.GetEnvironmentVariable("BEDBUREAU_TEST_REDIS_SERVER") is { Length: > 0 } path
            ? path
            : throw new InvalidOperationException("BEDBUREAU_TEST_REDIS_SERVER is not set: run the tests through .ci/run, which installs redis-server.");

    /// <summary>The shared Redis the integration tests use (each test keeps to its own key namespace).</summary>
    public static string Shared =>
        Environment.GetEnvironmentVariable("BEDBUREAU_TEST_REDIS")
        ?? throw new InvalidOperationException("BEDBUREAU_TEST_REDIS is not set: run the tests through .ci/run, which starts Redis.");

    public async Task StartAsync()
    {
        _process = Process.Start(new ProcessStartInfo(Executable)
        {
            ArgumentList = { "--bind", "127.0.0.1", "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--save", "", "--appendonly", "no" },
            RedirectStandardOutput = true,
            UseShellExecute = false,
        })!;
        _process.OutputDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", Port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }
        }
    }

    /// <summary>SIGKILL: the server and its data are gone.</summary>
    public async Task KillAsync()
    {
        _process!.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
        _process = null;
    }

    /// <summary>SIGSTOP: connections stay open, nothing answers (a "slow" Redis).</summary>
    public void Pause() => Signal("STOP");

    public void Resume() => Signal("CONT");

    private void Signal(string signal)
    {
        using var kill = Process.Start("kill", $"-{signal} {_process!.Id}");
        kill.WaitForExit();
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            Resume();
            await KillAsync();
        }
    }
}
