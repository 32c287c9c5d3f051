using System.Collections.Concurrent;
using System.Diagnostics;
using BedBureau.Contract.Health.V1;
using BedBureau.Contract.V1;
using BedBureau.Gateway.Tests.EndToEnd;
using BedBureau.Gateway.Tests.Storage;
using BedBureau.Wire;
using BedBureau.Wire.Client;
using Npgsql;
using Xunit.Abstractions;
using static BedBureau.Gateway.Tests.EndToEnd.GatewayFixture;

namespace BedBureau.Gateway.Tests.Durability;

/// <summary>The gateway on a database of its own on the shared test PostgreSQL, reached through a proxy that can add latency.</summary>
public sealed class SlowPostgresGatewayFixture : GatewayFixture
{
    public LatencyProxy Proxy { get; private set; } = null!;

    /// <summary>The gateway's database, reached directly (not through the proxy).</summary>
    public string Database { get; private set; } = "";

    protected override async Task<IEnumerable<string>> SettingsAsync()
    {
        Database = await TestDatabases.CreatePostgresDatabaseAsync();
        var direct = new NpgsqlConnectionStringBuilder(Database);
        Proxy = new LatencyProxy(direct.Host!, direct.Port);
        var proxied = new NpgsqlConnectionStringBuilder(Database) { Host = "127.0.0.1", Port = Proxy.Port };
        return [$"--ConnectionStrings:Postgres={proxied}", "--Security:PersonalDataSecret=slow-test-secret", "--Health:StorageCheckSeconds=0.5"];
    }

    public override async Task DisposeAsync()
    {
        Proxy.Delay = TimeSpan.Zero;
        await base.DisposeAsync();
        await Proxy.DisposeAsync();
    }
}

/// <summary>
/// PostgreSQL slow (latency on every packet) or blocked (a lock held on the table the grain
/// storage writes): changes end near their deadline with DEADLINE_EXCEEDED or UNAVAILABLE,
/// cheap calls (health, directory, a patient's lookup) still answer at once, health turns
/// NOT_SERVING while the database does not answer in time and SERVING once it does.
/// </summary>
public sealed class SlowPostgresTests(SlowPostgresGatewayFixture gateway, ITestOutputHelper output) : IClassFixture<SlowPostgresGatewayFixture>
{
    private static readonly TimeSpan CallDeadline = TimeSpan.FromSeconds(2);

    /// <summary>How much later than its deadline a call may end on a loaded 2-core machine.</summary>
    private static readonly TimeSpan DeadlineSlack = TimeSpan.FromSeconds(1);

    /// <summary>
    /// 99th percentile of the cheap calls while the database is slow: starvation would hold
    /// most of them. A single call may stall longer on a machine at load 30 (scheduling), but
    /// never as long as a change held up by the database.
    /// </summary>
    private static readonly TimeSpan CheapCallBound = TimeSpan.FromSeconds(1);


    [Fact]
    public async Task With_every_PostgreSQL_packet_delayed_changes_end_at_their_deadline_cheap_calls_answer_and_health_is_not_serving_until_it_is_fast_again()
    {
        var (hospital, profile) = await TargetAsync(0);
        var looked = await RegisterAsync(await TargetAsync(1));

        gateway.Proxy.Delay = TimeSpan.FromSeconds(1.5);
        try
        {
            var notServing = await HealthBecomesAsync(HealthCheckResponse.Types.ServingStatus.NotServing);
            var (changes, cheap) = await ChangesAndCheapCallsAsync(hospital, profile, looked);
            output.WriteLine($"delay 1.5 s per packet: NOT_SERVING after {notServing.TotalSeconds:F1} s; {Describe(changes, cheap)}");
        }
        finally
        {
            gateway.Proxy.Delay = TimeSpan.Zero;
        }

        var serving = await HealthBecomesAsync(HealthCheckResponse.Types.ServingStatus.Serving);
        await RegisterAsync((hospital, profile));
        output.WriteLine($"delay removed: SERVING after {serving.TotalSeconds:F1} s, changes acknowledged again");
    }

    [Fact]
    public async Task With_a_lock_held_on_the_referrals_table_changes_end_at_their_deadline_cheap_calls_answer_and_retries_do_not_double()
    {
        var (hospital, profile) = await TargetAsync(2);
        var looked = await RegisterAsync(await TargetAsync(1));
        var before = await QueueAsync(hospital, profile);

        List<(RegisterReferralRequest Request, TimeSpan Elapsed, StatusCode? Status)> changes;
        await using (var locker = new NpgsqlConnection(gateway.Database))
        {
            await locker.OpenAsync();
            await using var transaction = await locker.BeginTransactionAsync();
            await using (var lockTable = new NpgsqlCommand("LOCK TABLE referrals IN ACCESS EXCLUSIVE MODE", locker, transaction))
            {
                await lockTable.ExecuteNonQueryAsync();
            }

            (changes, var cheap) = await ChangesAndCheapCallsAsync(hospital, profile, looked);
            output.WriteLine($"ACCESS EXCLUSIVE lock on referrals: {Describe(changes, cheap)}");
            await transaction.RollbackAsync();
        }

        // Lock released: a retry of each timed-out registration (same request id) answers one referral, never a second one.
        var codes = new HashSet<string>();
        foreach (var (request, _, _) in changes)
        {
            using var polyclinic = gateway.ChannelFor(gateway.Polyclinic());
            var registered = await polyclinic.UnaryAsync(Api.Register, request);
            Assert.True(codes.Add(registered.HospitalizationCode), $"{registered.HospitalizationCode} answered twice");
            Assert.Equal(registered.HospitalizationCode, (await polyclinic.UnaryAsync(Api.Register, request)).HospitalizationCode);
        }

        var after = await QueueAsync(hospital, profile);
        Assert.Equal(before.Count + changes.Count, after.Count);
        Assert.Subset(after.ToHashSet(), codes);
    }

    /// <summary>
    /// Registrations with a deadline while the database is slowed, and cheap calls alongside:
    /// every registration ends DEADLINE_EXCEEDED or UNAVAILABLE near its deadline; every cheap
    /// call (health, another hospital's directory entry, a patient's lookup at another hospital)
    /// answers within the bound. A read of the grain whose commit is held up waits behind it
    /// (one turn at a time, as in Orleans) but also ends at its deadline.
    /// </summary>
    private async Task<(List<(RegisterReferralRequest Request, TimeSpan Elapsed, StatusCode? Status)> Changes, List<double> Cheap)> ChangesAndCheapCallsAsync(
        string hospital, string profile, RegisterReferralResponse looked)
    {
        var otherHospital = looked.Referral.HospitalId;
        using var stop = new CancellationTokenSource();
        var cheap = new ConcurrentBag<double>();
        var cheapFailures = new ConcurrentBag<string>();
        var cheapCalls = Enumerable.Range(0, 3).Select(kind => Task.Run(async () =>
        {
            using var channel = GrpcChannel.ForAddress(gateway.GrpcAddress);
            while (!stop.IsCancellationRequested)
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    _ = kind switch
                    {
                        0 => (object)await channel.UnaryAsync(Api.HealthCheck, new HealthCheckRequest(), CallOptions.WithTimeout(TimeSpan.FromSeconds(10))),
                        1 => await channel.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = otherHospital }, CallOptions.WithTimeout(TimeSpan.FromSeconds(10))),
                        _ => await channel.UnaryAsync(Api.QueueStatus, new GetQueueStatusRequest { HospitalizationCode = looked.HospitalizationCode, AccessKey = looked.AccessKey }, CallOptions.WithTimeout(TimeSpan.FromSeconds(10))),
                    };
                }
                catch (RpcException ex)
                {
                    cheapFailures.Add($"{(kind == 0 ? "health" : kind == 1 ? "GetHospital" : "GetQueueStatus")}: {ex.StatusCode} after {Stopwatch.GetElapsedTime(started)}");
                }

                cheap.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                await Task.Delay(20);
            }
        })).ToArray();

        var changes = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            using var polyclinic = gateway.ChannelFor(gateway.Polyclinic());
            var request = Scenario.NewPatientRegistration(gateway, hospital, profile, inDays: 6);
            var started = Stopwatch.GetTimestamp();
            try
            {
                await polyclinic.UnaryAsync(Api.Register, request, CallOptions.WithTimeout(CallDeadline));
                return (request, Stopwatch.GetElapsedTime(started), (StatusCode?)null);
            }
            catch (RpcException ex)
            {
                return (request, Stopwatch.GetElapsedTime(started), (StatusCode?)ex.StatusCode);
            }
        })));
        // Served if the grain's commit got through meanwhile, else DEADLINE_EXCEEDED: either way by its deadline.
        var blockedRead = Stopwatch.StartNew();
        try
        {
            await gateway.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = hospital }, CallOptions.WithTimeout(CallDeadline));
        }
        catch (RpcException ex)
        {
            Assert.Equal(StatusCode.DeadlineExceeded, ex.StatusCode);
        }

        Assert.True(blockedRead.Elapsed < CallDeadline + DeadlineSlack, $"a read of the held-up grain ended after {blockedRead.Elapsed}");
        await stop.CancelAsync();
        await Task.WhenAll(cheapCalls);

        foreach (var (_, elapsed, status) in changes)
        {
            Assert.True(status is StatusCode.DeadlineExceeded or StatusCode.Unavailable, $"a registration ended {status?.ToString() ?? "OK"} after {elapsed}");
            Assert.True(elapsed < CallDeadline + DeadlineSlack, $"a registration with a {CallDeadline} deadline ended after {elapsed}");
        }

        Assert.Empty(cheapFailures);
        var sorted = cheap.Order().ToList();
        Assert.NotEmpty(sorted);
        var p99 = sorted[(int)(sorted.Count * 0.99)];
        Assert.True(p99 < CheapCallBound.TotalMilliseconds, $"cheap calls' p99 {p99:F0} ms, slowest {sorted[^1]:F0} ms");
        Assert.True(sorted[^1] < (CallDeadline + DeadlineSlack).TotalMilliseconds, $"slowest cheap call: {sorted[^1]:F0} ms");
        return (changes.ToList(), sorted);
    }

    private static string Describe(List<(RegisterReferralRequest Request, TimeSpan Elapsed, StatusCode? Status)> changes, List<double> cheap) =>
        $"{changes.Count} registrations with a {CallDeadline.TotalSeconds:F0} s deadline ended "
        + string.Join(", ", changes.GroupBy(c => c.Status).Select(g => $"{g.Count()} {g.Key}"))
        + $" after {changes.Min(c => c.Elapsed).TotalSeconds:F2}-{changes.Max(c => c.Elapsed).TotalSeconds:F2} s; "
        + $"{cheap.Count} cheap calls (health, directory, lookup) meanwhile, p50 {cheap[cheap.Count / 2]:F1} ms, p99 {cheap[(int)(cheap.Count * 0.99)]:F0} ms, max {cheap[^1]:F0} ms";

    private async Task<TimeSpan> HealthBecomesAsync(HealthCheckResponse.Types.ServingStatus wanted)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var health = await gateway.Anonymous.UnaryAsync(Api.HealthCheck, new HealthCheckRequest());
            if (health.Status == wanted)
            {
                return waited.Elapsed;
            }

            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(20), $"health still {health.Status} after {waited.Elapsed}");
            await Task.Delay(100);
        }
    }

    private async Task<(string Hospital, string Profile)> TargetAsync(int index)
    {
        var hospital = gateway.Hospital(index).organization_id;
        var info = await gateway.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = hospital });
        await Scenario.OpenDayAsync(gateway, gateway.Hospital(index), info.Hospital.BedProfileCodes[0], inDays: 6, slots: 1_000);
        return (hospital, info.Hospital.BedProfileCodes[0]);
    }

    private async Task<RegisterReferralResponse> RegisterAsync((string Hospital, string Profile) target)
    {
        using var polyclinic = gateway.ChannelFor(gateway.Polyclinic());
        return await polyclinic.UnaryAsync(Api.Register, Scenario.NewPatientRegistration(gateway, target.Hospital, target.Profile, inDays: 6));
    }

    private async Task<List<string>> QueueAsync(string hospital, string profile)
    {
        using var hospitalClient = gateway.ChannelFor(gateway.Keys.Single(k => k.organization_id == hospital));
        var queue = await hospitalClient.UnaryAsync(Api.ListQueue, new ListQueueRequest { HospitalId = hospital, BedProfileCode = profile, PageSize = 1000 });
        return queue.Referrals.Select(r => r.HospitalizationCode).ToList();
    }
}
