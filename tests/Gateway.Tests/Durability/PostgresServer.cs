using System.Diagnostics;
using BedBureau.Gateway.Tests.EndToEnd;
using Npgsql;

namespace BedBureau.Gateway.Tests.Durability;

/// <summary>
/// A throwaway PostgreSQL of the test's own (initdb into a temporary directory, own port), to
/// stop and start under a running gateway; the shared test server is never touched. Uses the
/// binaries of BEDBUREAU_TEST_PG_CTL, run as the postgres user when the tests run as root.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private readonly string _bin;

    public PostgresServer()
    {
        var pgCtl = Environment.GetEnvironmentVariable("BEDBUREAU_TEST_PG_CTL")
            ?? throw new InvalidOperationException("BEDBUREAU_TEST_PG_CTL is not set: run the tests through .ci/run, which installs PostgreSQL.");
        _bin = Path.GetDirectoryName(pgCtl.Split(' ')[0])!;
    }

    public string Directory { get; } = Path.Combine(Path.GetTempPath(), $"bedbureau-pg-{Guid.NewGuid():N}");

    public int Port { get; } = TestPorts.Free();

    public string ConnectionString => $"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres;Timeout=15";

    public async Task InitAsync()
    {
        System.IO.Directory.CreateDirectory(Directory);
        if (Environment.UserName == "root")
        {
            await RunAsync("chown", "postgres:postgres", Directory);
        }

        await PostgresAsync($"{_bin}/initdb -D {Directory}/data -U postgres -E UTF8 --auth-local=trust --auth-host=trust -N");
        await StartAsync();
    }

    public Task StartAsync() =>
        PostgresAsync($"{_bin}/pg_ctl -D {Directory}/data -l {Directory}/log -w start -o \"-c listen_addresses=127.0.0.1 -p {Port} -k {Directory} -c fsync=off\"");

    /// <summary>Starts the server unless it runs: a test that failed while it was down leaves it so.</summary>
    public async Task EnsureRunningAsync()
    {
        if (!File.Exists(Path.Combine(Directory, "data", "postmaster.pid")))
        {
            await StartAsync();
        }
    }

    /// <summary>Fast shutdown: sessions are closed, the port stops answering.</summary>
    public Task StopAsync() => PostgresAsync($"{_bin}/pg_ctl -D {Directory}/data -m fast -w stop");

    private static Task PostgresAsync(string command) =>
        Environment.UserName == "root" ? RunAsync("su", "postgres", "-c", command) : RunAsync("sh", "-c", command);

    private static async Task RunAsync(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited with {process.ExitCode}: {await output}{await error}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        try
        {
            await PostgresAsync($"{_bin}/pg_ctl -D {Directory}/data -m immediate -w stop");
        }
        catch (InvalidOperationException)
        {
            // Already stopped.
        }

        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
