using System.Net;
using System.Net.Sockets;
using BedBureau.Contract.V1;
using BedBureau.Gateway.Tests.EndToEnd;
using BedBureau.Wire;
using BedBureau.Wire.Client;
using Xunit.Abstractions;
using AccessKeys = BedBureau.BedGrain.Domain.AccessKeys;

namespace BedBureau.Gateway.Tests.Security;

/// <summary>The gateway with the patients' lookup limit it ships with (the other fixtures raise it).</summary>
public sealed class ShippedLimitsGateway : GatewayFixture
{
    /// <summary>PatientRateLimiter's defaults, which appsettings.json does not override.</summary>
    public const int Burst = 30;
    public const double PerSecond = 1.0;

    protected override Task<IEnumerable<string>> SettingsAsync() =>
        Task.FromResult<IEnumerable<string>>(["--Patients:LookupBurst=30", "--Patients:LookupsPerSecond=1", "--Patients:FailedLookupBurst=600", "--Patients:FailedLookupsPerSecond=10",
            "--Sample:Hospitals=5", "--Sample:Referrals=10"]);
}

/// <summary>
/// How many access keys an attacker can try against a known hospitalization code in an hour
/// from one address, over several HTTP/2 connections at once, on the fake clock: one simulated
/// hour takes a few seconds. The figure and the chance of a hit are printed for
/// docs/reliability.md.
/// </summary>
public sealed class AccessKeyGuessingTests(ShippedLimitsGateway gateway, ITestOutputHelper output) : IClassFixture<ShippedLimitsGateway>
{
    [Fact]
    public async Task One_address_gets_the_burst_plus_one_guess_a_second_however_many_connections_it_opens()
    {
        var referral = await Scenario.RegisterAsync(gateway);
        var connections = Enumerable.Range(0, 8).Select(_ => GrpcChannel.ForAddress(gateway.GrpcAddress)).ToArray();
        const int Batches = 360;
        const int GuessesPerBatch = 16;
        var step = TimeSpan.FromSeconds(10);
        var (tried, refused, hits) = (0, 0, 0);
        try
        {
            // 16 guesses every 10 simulated seconds, spread over 8 connections: more than the limit lets through.
            for (var batch = 0; batch < Batches; batch++)
            {
                var outcomes = await Task.WhenAll(Enumerable.Range(0, GuessesPerBatch).Select(async i =>
                {
                    try
                    {
                        await connections[i % connections.Length].UnaryAsync(Api.QueueStatus, new GetQueueStatusRequest { HospitalizationCode = referral.HospitalizationCode, AccessKey = AccessKeys.Generate() });
                        return StatusCode.OK;
                    }
                    catch (RpcException ex)
                    {
                        return ex.StatusCode;
                    }
                }));
                tried += outcomes.Count(o => o == StatusCode.NotFound);
                hits += outcomes.Count(o => o == StatusCode.OK);
                refused += outcomes.Count(o => o == StatusCode.ResourceExhausted);
                Assert.Equal(GuessesPerBatch, outcomes.Count(o => o is StatusCode.NotFound or StatusCode.OK or StatusCode.ResourceExhausted));
                if (batch < Batches - 1)
                {
                    gateway.Time.Advance(step);
                }
            }
        }
        finally
        {
            foreach (var connection in connections)
            {
                connection.Dispose();
            }
        }

        // Token bucket: the burst at once, then one a second for the (Batches - 1) steps between the first and the last batch.
        var elapsed = step * (Batches - 1);
        var allowed = ShippedLimitsGateway.Burst + (int)(elapsed.TotalSeconds * ShippedLimitsGateway.PerSecond);
        var perHour = allowed * 3600 / (elapsed.TotalSeconds + 10);
        const double KeySpace = 1L << 50; // 10 Crockford base-32 characters
        output.WriteLine($"{Batches * GuessesPerBatch} guesses in {elapsed.TotalSeconds + 10:F0} simulated s over {connections.Length} connections from one address: " +
            $"{tried} checked, {refused} refused RESOURCE_EXHAUSTED, {hits} hits");
        output.WriteLine($"~{perHour:F0} guesses/hour/address; P(hit in an hour) <= {perHour / KeySpace:E2}; " +
            $"a million addresses for a year: {perHour * 24 * 365.25 * 1e6 / KeySpace:E2}");

        Assert.Equal(allowed, tried + hits);
        Assert.Equal(Batches * GuessesPerBatch - allowed, refused);

        // The patient is not locked out by the attacker's guesses from elsewhere: the limit is per address,
        // and here the patient's lookup shares the attacker's address, so it waits for the next token.
        gateway.Time.Advance(TimeSpan.FromSeconds(1));
        var own = await gateway.Anonymous.UnaryAsync(Api.QueueStatus, new GetQueueStatusRequest { HospitalizationCode = referral.HospitalizationCode, AccessKey = referral.AccessKey });
        Assert.Equal(referral.HospitalizationCode, own.Status.HospitalizationCode);
    }
}

/// <summary>The shipped per-address limit, and a national budget of failed lookups small enough to spend in a test.</summary>
public sealed class SmallFailureBudgetGateway : GatewayFixture
{
    public const int FailureBurst = 50;
    public static readonly TimeSpan Penalty = TimeSpan.FromMinutes(15);

    protected override Task<IEnumerable<string>> SettingsAsync() =>
        Task.FromResult<IEnumerable<string>>(["--Patients:LookupBurst=30", "--Patients:LookupsPerSecond=1", "--Patients:FailedLookupsPerSecond=1",
            $"--Patients:FailedLookupBurst={FailureBurst}", $"--Patients:FailedLookupPenalty={Penalty}", "--Sample:Hospitals=5", "--Sample:Referrals=10"]);
}

/// <summary>
/// A botnet: many addresses, each within its own limit, guessing keys of a known code. Each
/// connection comes from its own loopback address (127.0.0.0/8), so the gateway sees them as
/// the different clients they are.
/// </summary>
public sealed class BotnetGuessingTests(SmallFailureBudgetGateway gateway, ITestOutputHelper output) : IClassFixture<SmallFailureBudgetGateway>
{
    [Fact]
    public async Task Past_the_national_budget_of_failed_lookups_each_address_gets_one_guess_per_penalty_and_patients_who_type_their_key_right_get_their_status()
    {
        var referral = await Scenario.RegisterAsync(gateway);
        const int Bots = 100;
        const int GuessesEach = 10;
        var (tried, refused, hits) = (0, 0, 0);

        // One address after another, each guessing in turn: the budget goes to the first addresses
        // (5 × 10 failures) and every later address is penalized at its first failure.
        for (var bot = 0; bot < Bots; bot++)
        {
            using var channel = From(IPAddress.Parse($"127.0.1.{bot + 1}"));
            for (var guess = 0; guess < GuessesEach; guess++)
            {
                switch (await StatusOf(channel, referral.HospitalizationCode, AccessKeys.Generate()))
                {
                    case StatusCode.NotFound: tried++; break;
                    case StatusCode.ResourceExhausted: refused++; break;
                    case StatusCode.OK: hits++; break;
                    case var other: Assert.Fail($"a guess answered {other}"); break;
                }
            }
        }

        var penalized = Bots - SmallFailureBudgetGateway.FailureBurst / GuessesEach;
        output.WriteLine($"{Bots} addresses × {GuessesEach} guesses: {tried} checked, {refused} refused RESOURCE_EXHAUSTED, {hits} hits");
        Assert.Equal(SmallFailureBudgetGateway.FailureBurst + penalized, tried);
        Assert.Equal(Bots * GuessesEach - tried, refused);

        // A patient who types the key right, from an address of their own, is not slowed by the attack.
        using var patient = From(IPAddress.Parse("127.0.2.1"));
        Assert.Equal(StatusCode.OK, await StatusOf(patient, referral.HospitalizationCode, referral.AccessKey));

        // One who mistypes it while the budget is spent waits the penalty, told how long.
        using var typist = From(IPAddress.Parse("127.0.2.2"));
        Assert.Equal(StatusCode.NotFound, await StatusOf(typist, referral.HospitalizationCode, "0000000000"));
        var waiting = await Assert.ThrowsAsync<RpcException>(() => typist.UnaryAsync(Api.QueueStatus,
            new GetQueueStatusRequest { HospitalizationCode = referral.HospitalizationCode, AccessKey = referral.AccessKey }));
        Assert.Equal(StatusCode.ResourceExhausted, waiting.StatusCode);
        Assert.Equal($"{SmallFailureBudgetGateway.Penalty.TotalSeconds + 1}", waiting.Trailers.GetValue("retry-after"));

        gateway.Time.Advance(SmallFailureBudgetGateway.Penalty + TimeSpan.FromSeconds(1));
        Assert.Equal(StatusCode.OK, await StatusOf(typist, referral.HospitalizationCode, referral.AccessKey));

        using var http = new HttpClient { BaseAddress = new Uri(gateway.HttpAddress), DefaultRequestVersion = HttpVersion.Version11 };
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains($"bedbureau_patients_penalties_total {penalized + 1}", metrics);
        Assert.Contains($"bedbureau_patients_lookup_failures_total {tried + 1}", metrics);
    }

    private GrpcChannel From(IPAddress source) => GrpcChannel.ForAddress(gateway.GrpcAddress, new GrpcChannelOptions
    {
        Handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(source, 0));
                    await socket.ConnectAsync(IPAddress.Parse(context.DnsEndPoint.Host), context.DnsEndPoint.Port, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        },
    });

    private static async Task<StatusCode> StatusOf(GrpcChannel channel, string code, string accessKey)
    {
        try
        {
            await channel.UnaryAsync(Api.QueueStatus, new GetQueueStatusRequest { HospitalizationCode = code, AccessKey = accessKey });
            return StatusCode.OK;
        }
        catch (RpcException ex)
        {
            return ex.StatusCode;
        }
    }
}
