using System.Text.RegularExpressions;
using BedBureau.GrpcServer.Tests.Infrastructure;

namespace BedBureau.GrpcServer.Tests.InteropTests;

/// <summary>
/// One run of a real client's interop program over all cases (the process starts once),
/// its "CASE name PASS|FAIL reason" lines parsed per case.
/// </summary>
public abstract partial class InteropClientRun : IAsyncLifetime
{
    public static readonly string[] CaseNames =
    [
        "empty_unary", "large_unary", "client_compressed_unary", "server_compressed_unary",
        "client_streaming", "server_streaming", "ping_pong", "empty_stream", "custom_metadata",
        "status_code_and_message", "special_status_message", "unimplemented_method",
        "unimplemented_service", "cancel_after_begin", "cancel_after_first_response",
        "timeout_on_sleeping_server",
    ];

    public static TheoryData<string> Cases => new(CaseNames);

    private readonly InteropServerFixture _server = new();
    private readonly Dictionary<string, string> _results = [];
    private ExternalProcess.Result? _run;

    public async Task InitializeAsync()
    {
        await _server.InitializeAsync();
        _run = await RunClientAsync(_server.Port, string.Join(',', CaseNames));
        foreach (Match line in CaseLine().Matches(_run.Output))
        {
            _results[line.Groups["name"].Value] = line.Groups["outcome"].Value.TrimEnd('\r');
        }
    }

    public Task DisposeAsync() => _server.DisposeAsync();

    private protected abstract Task<ExternalProcess.Result> RunClientAsync(int port, string cases);

    /// <summary>Fails with the client's own reason unless it reported the case as passed.</summary>
    public void AssertPassed(string name)
    {
        Assert.True(_results.TryGetValue(name, out var outcome), $"The client reported nothing for {name} (exit {_run!.ExitCode}).\nstdout:\n{_run.Output}\nstderr:\n{_run.Error}");
        Assert.True(outcome == "PASS", $"{name}: {outcome}");
    }

    [GeneratedRegex(@"^CASE (?<name>\w+) (?<outcome>.*)$", RegexOptions.Multiline)]
    private static partial Regex CaseLine();
}

public sealed class PythonClientRun : InteropClientRun
{
    private protected override async Task<ExternalProcess.Result> RunClientAsync(int port, string cases)
    {
        var generated = await PythonProtos.GenerateAsync(RepoPaths.InteropProtos, "grpc/testing/empty.proto", "grpc/testing/messages.proto", "grpc/testing/test.proto");
        var script = Path.Combine(RepoPaths.InteropClients, "python", "interop_client.py");
        return await ExternalProcess.RunAsync(RepoPaths.Python, [script, "--port", port.ToString(), "--gen", generated, "--cases", cases], TimeSpan.FromSeconds(60));
    }
}

public sealed class NodeClientRun : InteropClientRun
{
    private protected override Task<ExternalProcess.Result> RunClientAsync(int port, string cases)
    {
        var folder = Path.Combine(RepoPaths.InteropClients, "node");
        Assert.True(Directory.Exists(Path.Combine(folder, "node_modules", "@grpc", "grpc-js")), $"@grpc/grpc-js is not installed: run `npm ci` in {folder} (.ci/run does).");
        return ExternalProcess.RunAsync("node", ["client.js", "--port", port.ToString(), "--protos", RepoPaths.InteropProtos, "--cases", cases], TimeSpan.FromSeconds(60), folder);
    }
}

/// <summary>The server-side interop cases, run by Python grpcio (Debian python3-grpcio).</summary>
public sealed class PythonGrpcioInteropTests(PythonClientRun run) : IClassFixture<PythonClientRun>
{
    [Theory]
    [MemberData(nameof(InteropClientRun.Cases), MemberType = typeof(InteropClientRun))]
    public void Case_passes(string name) => run.AssertPassed(name);
}

/// <summary>The server-side interop cases, run by @grpc/grpc-js (npm).</summary>
public sealed class GrpcJsInteropTests(NodeClientRun run) : IClassFixture<NodeClientRun>
{
    [Theory]
    [MemberData(nameof(InteropClientRun.Cases), MemberType = typeof(InteropClientRun))]
    public void Case_passes(string name) => run.AssertPassed(name);
}
