using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using BedBureau.Contract.V1;
using BedBureau.Gateway.Tests.EndToEnd;
using BedBureau.Wire;
using BedBureau.Wire.Client;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using Xunit.Abstractions;
using static BedBureau.Gateway.Tests.EndToEnd.GatewayFixture;

namespace BedBureau.Gateway.Tests.Faults;

/// <summary>
/// The gateway with the production limits, but a stalled stream dropped after 2 s (not 30),
/// a hospital watch buffering 100 events (not 10,000) and keep-alive pings after 1 s of
/// silence answered within 1 s (not 30 + 20): the same mechanisms, on a test's time scale.
/// </summary>
public sealed class StallGatewayFixture : GatewayFixture
{
    public const int WatchBuffer = 100;

    public static readonly TimeSpan StreamWriteTimeout = TimeSpan.FromSeconds(2);

    public static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(1);

    protected override Task<IEnumerable<string>> SettingsAsync() => Task.FromResult<IEnumerable<string>>(
    [
        $"--Grpc:StreamWriteTimeout={StreamWriteTimeout}",
        $"--Watch:BufferedEvents={WatchBuffer}",
        $"--Kestrel:Limits:Http2:KeepAlivePingDelay={KeepAlive}",
        $"--Kestrel:Limits:Http2:KeepAlivePingTimeout={KeepAlive}",
    ]);
}

/// <summary>
/// Slow and stalled clients over real connections do not slow the others: a hospital watch
/// that is never read is dropped with its bounded buffer, a connection is held to its stream
/// limit and closed once it stops answering pings, and meanwhile everyone else is served.
/// </summary>
public sealed class StalledClientTests(StallGatewayFixture gateway, ITestOutputHelper output) : IClassFixture<StallGatewayFixture>
{
    /// <summary>99th percentile of the other clients' calls: generous for a loaded 2-core CI machine, far below a stall.</summary>
    private static readonly TimeSpan LatencyBound = TimeSpan.FromSeconds(2);

    /// <summary>The slowest single call of the others (a machine at load 30 stalls a process now and then); a stall lasts for good.</summary>
    private static readonly TimeSpan MaxLatency = TimeSpan.FromSeconds(5);

    [Fact]
    public void The_production_limits_are_the_configured_ones()
    {
        // appsettings.json ships the limits; the fixture overrides only the ping timing.
        var limits = gateway.Service<IOptions<KestrelServerOptions>>().Value.Limits;
        Assert.Equal(100, limits.Http2.MaxStreamsPerConnection);
        Assert.Equal(786_432, limits.Http2.InitialStreamWindowSize);
        Assert.Equal(1_048_576, limits.Http2.InitialConnectionWindowSize);
        Assert.Equal(65_536, limits.MaxResponseBufferSize);
        Assert.Equal(StallGatewayFixture.KeepAlive, limits.Http2.KeepAlivePingDelay);
        Assert.NotNull(limits.MinResponseDataRate);
    }

    [Fact]
    public async Task A_hospital_watch_that_is_never_read_is_dropped_with_its_bounded_buffer_while_other_clients_are_served()
    {
        var hub = gateway.Service<ReferralEventHub>();
        var hospital = gateway.Hospital(2);
        var profile = (await gateway.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = hospital.organization_id })).Hospital.BedProfileCodes[0];
        await Scenario.OpenDayAsync(gateway, hospital, profile, inDays: 5, slots: 10_000);
        GC.Collect();
        GC.WaitForPendingFinalizers();

        // The stalled watcher: its own connection, subscribed, never read (HttpClient grants no more window).
        using var stalledChannel = gateway.ChannelFor(hospital);
        using var stalled = stalledChannel.ServerStreaming(Api.WatchReferrals, new WatchReferralsRequest());
        await stalled.ResponseHeadersAsync().WaitAsync(TimeSpan.FromSeconds(10));

        // A watcher of the same hospital that reads: it must get every event while the other stalls.
        using var readerChannel = gateway.ChannelFor(hospital);
        using var reader = readerChannel.ServerStreaming(Api.WatchReferrals, new WatchReferralsRequest());
        await reader.ResponseHeadersAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(2, hub.Watchers);
        var seen = new ConcurrentDictionary<string, byte>();
        var reading = Task.Run(async () =>
        {
            while (await reader.ResponseStream.MoveNext())
            {
                if (reader.ResponseStream.Current.Event.Action == "REGISTERED")
                {
                    seen[reader.ResponseStream.Current.Referral.HospitalizationCode] = 0;
                }
            }
        });

        // The others: polyclinics registering and cancelling at that hospital, patients looking up, until the stalled watcher is gone.
        var registered = new ConcurrentBag<RegisterReferralResponse>();
        var latencies = new ConcurrentBag<double>();
        var failures = new ConcurrentBag<string>();
        using var stop = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        var load = Enumerable.Range(0, 10).Select(worker => Task.Run(async () =>
        {
            var random = new Random(worker);
            using var polyclinic = gateway.ChannelFor(gateway.Polyclinic());
            while (!stop.IsCancellationRequested)
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    if (worker < 8)
                    {
                        var referral = await polyclinic.UnaryAsync(Api.Register, Scenario.NewPatientRegistration(gateway, hospital.organization_id, profile, inDays: 5), CallOptions.WithTimeout(TimeSpan.FromSeconds(10)));
                        registered.Add(referral);
                        latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                        started = Stopwatch.GetTimestamp();
                        await polyclinic.UnaryAsync(Api.Cancel, new CancelReferralRequest { RequestId = Guid.NewGuid().ToString(), HospitalizationCode = referral.HospitalizationCode, Reason = CancellationReason.PatientRequest }, CallOptions.WithTimeout(TimeSpan.FromSeconds(10)));
                    }
                    else if (registered.ElementAtOrDefault(random.Next(Math.Max(1, registered.Count))) is { } looked)
                    {
                        await gateway.Anonymous.UnaryAsync(Api.QueueStatus, new GetQueueStatusRequest { HospitalizationCode = looked.HospitalizationCode, AccessKey = looked.AccessKey }, CallOptions.WithTimeout(TimeSpan.FromSeconds(10)));
                    }
                    else
                    {
                        await Task.Delay(10);
                        continue;
                    }

                    latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }
                catch (RpcException ex)
                {
                    failures.Add($"{ex.StatusCode}: {ex.Status.Detail}");
                }
            }
        })).ToArray();

        // Dropped: its buffer overflowed or its write stalled past the timeout; then only the reader is subscribed.
        var maxBuffered = 0;
        while (hub.Watchers > 1)
        {
            maxBuffered = Math.Max(maxBuffered, hub.LargestBacklog);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"the stalled watcher was not dropped within 60 s ({registered.Count} registrations)");
            await Task.Delay(10);
        }

        var droppedAfter = clock.Elapsed;
        await Task.Delay(500);
        stop.Cancel();
        await Task.WhenAll(load);

        // Every registration reached the reading watcher.
        var waited = Stopwatch.StartNew();
        while (registered.Any(r => !seen.ContainsKey(r.HospitalizationCode)) && waited.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(50);
        }

        Assert.Empty(registered.Where(r => !seen.ContainsKey(r.HospitalizationCode)).Select(r => r.HospitalizationCode));

        // The stalled client, reading at last, gets what was on the wire and then RESOURCE_EXHAUSTED.
        var received = 0;
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await stalled.ResponseStream.MoveNext().WaitAsync(TimeSpan.FromSeconds(10)))
            {
                received++;
            }
        });
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);

        Assert.Empty(failures);
        var sorted = latencies.Order().ToArray();
        var (p50, p99, max) = (sorted[sorted.Length / 2], sorted[(int)(sorted.Length * 0.99)], sorted[^1]);
        Assert.True(p99 < LatencyBound.TotalMilliseconds && max < MaxLatency.TotalMilliseconds, $"the others' calls: p99 {p99:F0} ms, slowest {max:F0} ms");

        // Memory stays bounded by the watch's buffer (the test process's heap is shared with the
        // tests running beside it, so it cannot tell this test's growth apart).
        Assert.InRange(maxBuffered, 0, StallGatewayFixture.WatchBuffer);
        output.WriteLine($"stalled watcher dropped after {droppedAfter.TotalSeconds:F1} s ({error.Status.Detail}), {received} messages reached it; "
            + $"{registered.Count} registrations, all {seen.Count} seen by the reading watcher; {sorted.Length} calls of the others, p50 {p50:F1} ms, p99 {p99:F1} ms, max {max:F0} ms, 0 failed; "
            + $"largest watch backlog {maxBuffered} of {StallGatewayFixture.WatchBuffer}");
        reader.Dispose();
        await reading.ContinueWith(_ => { }, TaskScheduler.Default);
    }

    [Fact]
    public async Task A_connection_that_opens_too_many_streams_and_stalls_is_held_to_its_stream_limit_and_closed_while_others_are_served()
    {
        const int Streams = 150;
        var limit = gateway.Service<IOptions<KestrelServerOptions>>().Value.Limits.Http2.MaxStreamsPerConnection;
        var port = new Uri(gateway.GrpcAddress).Port;
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync("127.0.0.1", port);

        // A window of 0: the server can send no DATA on any stream; then Health/Watch streams, never cancelled.
        var opening = new List<byte>(Preface);
        opening.AddRange(Frame(FrameSettings, 0, 0, [0, 4, 0, 0, 0, 0]));
        for (var i = 0; i < Streams; i++)
        {
            // Those past the limit end with their headers: a refused stream gets no DATA (RFC 9113 section 5.1.2).
            var stream = 2 * i + 1;
            opening.AddRange(Frame(FrameHeaders, (byte)(EndHeaders | (i < limit ? 0 : EndStream)), stream, [
                .. Literal(":method", "POST"), .. Literal(":scheme", "http"), .. Literal(":path", "/grpc.health.v1.Health/Watch"),
                .. Literal(":authority", "localhost"), .. Literal("content-type", "application/grpc"), .. Literal("te", "trailers")]));
            if (i < limit)
            {
                opening.AddRange(Frame(FrameData, EndStream, stream, [0, 0, 0, 0, 0]));
            }
        }

        var clock = Stopwatch.StartNew();
        await socket.SendAsync(opening.ToArray());

        // Meanwhile the others: health checks and directory reads on their own connections.
        using var stop = new CancellationTokenSource();
        var latencies = new ConcurrentBag<double>();
        var others = Enumerable.Range(0, 4).Select(worker => Task.Run(async () =>
        {
            using var channel = GrpcChannel.ForAddress(gateway.GrpcAddress);
            while (!stop.IsCancellationRequested)
            {
                var started = Stopwatch.GetTimestamp();
                if (worker % 2 == 0)
                {
                    await channel.UnaryAsync(Api.HealthCheck, new Contract.Health.V1.HealthCheckRequest(), CallOptions.WithTimeout(TimeSpan.FromSeconds(10)));
                }
                else
                {
                    await channel.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = gateway.Hospital().organization_id }, CallOptions.WithTimeout(TimeSpan.FromSeconds(10)));
                }

                latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        })).ToArray();

        // Read what the server says, never acknowledging its pings, until it closes the connection.
        var advertised = -1;
        var resets = new Dictionary<uint, int>();
        var pings = 0;
        var goAway = false;
        var buffer = new byte[1 << 20];
        var filled = 0;
        using var limitReading = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            int read;
            try
            {
                read = await socket.ReceiveAsync(buffer.AsMemory(filled), limitReading.Token);
            }
            catch (SocketException)
            {
                break; // reset by the server: closed
            }

            if (read == 0)
            {
                break;
            }

            filled += read;
            var offset = 0;
            while (filled - offset >= 9 && filled - offset >= 9 + (buffer[offset] << 16 | buffer[offset + 1] << 8 | buffer[offset + 2]))
            {
                var length = buffer[offset] << 16 | buffer[offset + 1] << 8 | buffer[offset + 2];
                var type = buffer[offset + 3];
                var payload = buffer.AsSpan(offset + 9, length);
                if (type == FrameSettings && (buffer[offset + 4] & 1) == 0)
                {
                    for (var s = 0; s + 6 <= payload.Length; s += 6)
                    {
                        if (BinaryPrimitives.ReadUInt16BigEndian(payload[s..]) == 3)
                        {
                            advertised = (int)BinaryPrimitives.ReadUInt32BigEndian(payload[(s + 2)..]);
                        }
                    }
                }
                else if (type == FrameRstStream)
                {
                    var code = BinaryPrimitives.ReadUInt32BigEndian(payload);
                    resets[code] = resets.GetValueOrDefault(code) + 1;
                }
                else if (type == FramePing && (buffer[offset + 4] & 1) == 0)
                {
                    pings++;
                }
                else if (type == FrameGoAway)
                {
                    goAway = true;
                }

                offset += 9 + length;
            }

            buffer.AsSpan(offset, filled - offset).CopyTo(buffer);
            filled -= offset;
        }

        var closedAfter = clock.Elapsed;
        var refused = resets.GetValueOrDefault(RefusedStream);
        var seen = $"resets by code {string.Join(", ", resets.Select(r => $"0x{r.Key:x}: {r.Value}"))}, GOAWAY {goAway}, {pings} pings, closed after {closedAfter}";
        stop.Cancel();
        await Task.WhenAll(others);

        Assert.Equal(limit, advertised);
        Assert.True(Streams - limit == refused, seen);
        Assert.True(pings > 0, $"the server sent no keep-alive ping: {seen}");
        Assert.True(closedAfter < TimeSpan.FromSeconds(15), $"the stalled connection was closed only after {closedAfter}");
        var sorted = latencies.Order().ToArray();
        Assert.NotEmpty(sorted);
        var p99 = sorted[(int)(sorted.Length * 0.99)];
        Assert.True(p99 < LatencyBound.TotalMilliseconds && sorted[^1] < MaxLatency.TotalMilliseconds, $"the others' calls: p99 {p99:F0} ms, slowest {sorted[^1]:F0} ms");
        output.WriteLine($"{Streams} streams opened on one connection with a window of 0: {advertised} allowed, {refused} refused (REFUSED_STREAM); "
            + $"closed {closedAfter.TotalSeconds:F1} s later after {pings} unanswered ping(s){(goAway ? " with GOAWAY" : "")}; "
            + $"{sorted.Length} calls of the others meanwhile, p50 {sorted[sorted.Length / 2]:F1} ms, p99 {p99:F1} ms, max {sorted[^1]:F0} ms, 0 failed");
    }

    // RFC 9113: the connection preface, frame types, flags and error codes used here.
    private static readonly byte[] Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();
    private const byte FrameData = 0x0;
    private const byte FrameHeaders = 0x1;
    private const byte FrameRstStream = 0x3;
    private const byte FrameSettings = 0x4;
    private const byte FramePing = 0x6;
    private const byte FrameGoAway = 0x7;
    private const byte EndStream = 0x1;
    private const byte EndHeaders = 0x4;
    private const uint RefusedStream = 0x7;

    private static byte[] Frame(byte type, byte flags, int stream, byte[] payload)
    {
        var frame = new byte[9 + payload.Length];
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = type;
        frame[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(5), stream);
        payload.CopyTo(frame, 9);
        return frame;
    }

    /// <summary>HPACK literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2); names and values here are under 127 bytes.</summary>
    private static byte[] Literal(string name, string value) =>
        [0, (byte)name.Length, .. Encoding.ASCII.GetBytes(name), (byte)value.Length, .. Encoding.ASCII.GetBytes(value)];
}
