using System.Diagnostics;

namespace BedBureau.GrpcServer.Tests.Infrastructure;

/// <summary>A real Python grpcio server (interop/python/test_server.py) on a free port.</summary>
public sealed class PythonServerFixture : IAsyncLifetime
{
    private Process? _process;

    public string Address { get; private set; } = "";

    public async Task InitializeAsync()
    {
        var generated = await PythonProtos.GenerateAsync(RepoPaths.InteropProtos, "grpc/testing/empty.proto", "grpc/testing/messages.proto", "grpc/testing/test.proto");
        var script = Path.Combine(RepoPaths.InteropClients, "python", "test_server.py");
        _process = ExternalProcess.Start(RepoPaths.Python, [script, "--gen", generated]);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var line = await _process.StandardOutput.ReadLineAsync(timeout.Token);
        if (line is null || !line.StartsWith("PORT ", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"The Python server did not start: {line}{await _process.StandardError.ReadToEndAsync()}");
        }

        Address = $"http://127.0.0.1:{line[5..]}";
    }

    public async Task DisposeAsync()
    {
        if (_process is null)
        {
            return;
        }

        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
