using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using BedBureau.LoadTest;
using Google.Protobuf;

var server = new Option<string>("--server") { Description = "The gateway's gRPC address", DefaultValueFactory = _ => "http://127.0.0.1:50051" };
var keys = new Option<FileInfo>("--keys") { Description = "The gateway's demo-keys.json (start it with Sample:HospitalKeys=1400 and Sample:PolyclinicKeys=1000 for every hospital's and polyclinic's)", Required = true };
var scale = new Option<double>("--scale") { Description = "1 = the national day (8,500 referrals, 1,000,000 lookups); 0.01 for a quick run", DefaultValueFactory = _ => 1 };
var concurrency = new Option<int>("--concurrency") { Description = "Calls in flight (lookups use twice as many)", DefaultValueFactory = _ => 64 };
var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 2026 };
var lookupBody = new Option<FileInfo?>("--lookup-body") { Description = "Write the framed GetQueueStatusRequest of the hottest code still queued here (an h2load request body)" };
var gatewayMetrics = new Option<string?>("--gateway-metrics") { Description = "The gateway's /metrics URL: prints its CPU per ReportBeds profile update" };
var reportingRounds = new Option<int>("--reporting-rounds") { Description = "Instead of the day: every hospital reports all its profiles this many times in a row (ReportBeds at saturation, warm after the first round)" };
var restartCommand = new Option<string?>("--restart-command")
{
    Description = "A shell command that restarts the gateway on its store with its clock $CLOCK_AHEAD_DAYS days ahead (Drill:ClockAheadDays); the day's no-shows phase runs only with it",
};
var root = new RootCommand("Replays a compressed national day against a running gateway; exits 1 on any error or invariant violation.") { server, keys, scale, concurrency, seed, lookupBody, gatewayMetrics, reportingRounds, restartCommand };
root.SetAction(async (result, cancellationToken) =>
{
    var day = new NationalDay(new NationalDayOptions
    {
        Server = result.GetValue(server)!,
        KeysFile = result.GetValue(keys)!.FullName,
        Scale = result.GetValue(scale),
        Concurrency = result.GetValue(concurrency),
        LookupConcurrency = result.GetValue(concurrency) * 2,
        Seed = result.GetValue(seed),
        GatewayMetrics = result.GetValue(gatewayMetrics),
        ReportingRounds = result.GetValue(reportingRounds),
        AdvanceClock = result.GetValue(restartCommand) is { } command ? by => RestartAheadAsync(command, by) : null,
    }, Console.Out);
    var outcome = await day.RunAsync(cancellationToken);
    if (result.GetValue(lookupBody) is { } file && outcome.HotLookup is { } lookup)
    {
        // gRPC framing: no compression, 4-byte big-endian length, the message.
        var message = lookup.ToByteArray();
        var framed = new byte[5 + message.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(framed.AsSpan(1), message.Length);
        message.CopyTo(framed, 5);
        await File.WriteAllBytesAsync(file.FullName, framed, cancellationToken);
    }

    return outcome.Passed ? 0 : 1;
});
return await root.Parse(args).InvokeAsync();

static async Task RestartAheadAsync(string command, TimeSpan ahead)
{
    var start = new ProcessStartInfo("/bin/sh", ["-c", command]) { Environment = { ["CLOCK_AHEAD_DAYS"] = ahead.TotalDays.ToString(CultureInfo.InvariantCulture) } };
    using var restart = Process.Start(start)!;
    await restart.WaitForExitAsync();
    if (restart.ExitCode != 0)
    {
        throw new InvalidOperationException($"The restart command exited with {restart.ExitCode}: {command}");
    }
}
