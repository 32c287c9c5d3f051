using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using BedBureau.InteropHost.Testing;
using BedBureau.Wire;
using Xunit.Abstractions;

namespace BedBureau.GrpcServer.Tests.Fuzz;

/// <summary>
/// Fuzzes the gRPC layer on real Kestrel with a fixed seed: every case must get the status its
/// mutation calls for (or a stream reset where allowed), none may hang, and the managed heap
/// must come back to where it was. Longer runs: BEDBUREAU_FUZZ_SEED, BEDBUREAU_FUZZ_CASES and
/// BEDBUREAU_FUZZ_RAW_CASES (see docs/reliability.md).
/// </summary>
public sealed class GrpcLayerFuzzTests(ITestOutputHelper output)
{
    private const int DefaultSeed = 20261123;
    private const int DefaultCases = 100_000;
    private const int DefaultRawCases = 3_000;
    private static readonly TimeSpan CaseTimeout = TimeSpan.FromSeconds(20);

    /// <summary>Streams Kestrel refused with ENHANCE_YOUR_CALM (its flood protection) instead of running them.</summary>
    private static int _shedByKestrel;

    [Fact]
    public async Task Every_mutated_request_gets_its_status_or_a_reset_without_hangs_and_within_bounded_memory()
    {
        var seed = Setting("BEDBUREAU_FUZZ_SEED", DefaultSeed);
        var cases = Setting("BEDBUREAU_FUZZ_CASES", DefaultCases);
        var rawCases = Setting("BEDBUREAU_FUZZ_RAW_CASES", DefaultRawCases);
        await using var host = await FuzzHost.StartAsync();
        using var client = NewClient(host.Address);

        // Warm up (JIT, connection pools) before the heap is measured.
        var failures = new ConcurrentQueue<string>();
        for (var i = 0; i < 200; i++)
        {
            if (await RunAsync(client, FuzzCases.Make(seed, -1 - i)) is { } failure)
            {
                failures.Enqueue(failure);
            }
        }

        var heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        var counts = new ConcurrentDictionary<string, int>();
        var peakHeap = 0L;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                peakHeap = Math.Max(peakHeap, GC.GetTotalMemory(false));
                await Task.Delay(50);
            }
        });

        var watch = Stopwatch.StartNew();
        long next = -1;
        var workers = Enumerable.Range(0, 32).Select(_ => Task.Run(async () =>
        {
            long index;
            while ((index = Interlocked.Increment(ref next)) < cases && failures.Count < 20)
            {
                var fuzzCase = FuzzCases.Make(seed, index);
                counts.AddOrUpdate(fuzzCase.Kind, 1, (_, n) => n + 1);
                if (await RunAsync(client, fuzzCase) is { } failure)
                {
                    failures.Enqueue(failure);
                }
            }
        })).ToList();

        long nextRaw = -1;
        var rawOutcomes = new ConcurrentDictionary<string, int>();
        workers.AddRange(Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            long index;
            while ((index = Interlocked.Increment(ref nextRaw)) < rawCases && failures.Count < 20)
            {
                var outcome = await RawHttp2Cases.RunAsync(host.Port, seed, index, CaseTimeout);
                var how = outcome.GoAway ? "goaway" : outcome.Answered ? "answered" : outcome.Resets > 0 ? "reset" : "closed";
                rawOutcomes.AddOrUpdate($"raw {outcome.Kind} -> {how}", 1, (_, n) => n + 1);
                if (outcome.Failure is { } failure)
                {
                    failures.Enqueue(failure);
                }
            }
        })));
        await Task.WhenAll(workers);
        watch.Stop();
        await sampling.CancelAsync();
        await sampler;

        // The server still serves a plain call after all that.
        var plain = await client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/grpc.testing.TestService/EmptyCall")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(FuzzCases.Frame([])) { Headers = { { "content-type", "application/grpc" } } },
        });
        await plain.Content.ReadAsByteArrayAsync();
        Assert.Equal("0", Value(plain.TrailingHeaders, "grpc-status"));
        client.Dispose();
        var heapAfter = GC.GetTotalMemory(forceFullCollection: true);

        output.WriteLine($"seed {seed}: {cases} gRPC cases and {rawCases} raw HTTP/2 connections in {watch.Elapsed.TotalSeconds:F1} s");
        output.WriteLine($"managed heap: before {heapBefore / 1024 / 1024} MB, peak {peakHeap / 1024 / 1024} MB, after {heapAfter / 1024 / 1024} MB");
        foreach (var (kind, count) in counts.Concat(rawOutcomes).OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"  {kind}: {count}");
        }

        output.WriteLine($"  shed by Kestrel's flood protection (ENHANCE_YOUR_CALM): {_shedByKestrel}");
        Assert.True(failures.IsEmpty, $"{failures.Count} failing case(s):\n{string.Join("\n", failures)}");
        Assert.True(_shedByKestrel <= cases / 100, $"{_shedByKestrel} cases were shed by Kestrel instead of answered");
        Assert.True(host.Errors.Lines.IsEmpty, $"the server logged errors:\n{string.Join("\n", host.Errors.Lines)}");

        // Bounded memory: the largest legitimate requests (4 MB) times the workers, and nothing kept.
        Assert.True(peakHeap - heapBefore < 1024L * 1024 * 1024, $"peak heap grew by {(peakHeap - heapBefore) / 1024 / 1024} MB");
        Assert.True(heapAfter - heapBefore < 64L * 1024 * 1024, $"heap grew by {(heapAfter - heapBefore) / 1024 / 1024} MB and stayed");
    }

    private static HttpClient NewClient(Uri address) => new(new SocketsHttpHandler
    {
        EnableMultipleHttp2Connections = true,
        MaxResponseHeadersLength = 64,
    })
    { BaseAddress = address };

    /// <summary>Runs one case; null when it got what it must get, else why not.</summary>
    private static async Task<string?> RunAsync(HttpClient client, FuzzCase fuzzCase)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, fuzzCase.Path)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(fuzzCase.Body),
        };
        if (fuzzCase.ContentType is { } contentType)
        {
            request.Content.Headers.TryAddWithoutValidation("content-type", contentType);
        }

        request.Headers.TryAddWithoutValidation("te", "trailers");
        foreach (var (key, value) in fuzzCase.Headers)
        {
            if (!request.Headers.TryAddWithoutValidation(key, value))
            {
                return $"{fuzzCase}: the generator made a header HttpClient cannot send: {key}";
            }
        }

        using var timeout = new CancellationTokenSource(CaseTimeout);
        HttpResponseMessage response;
        byte[] body;
        try
        {
            response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            body = await response.Content.ReadAsByteArrayAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return $"{fuzzCase}: no answer within {CaseTimeout} (hang)";
        }
        catch (HttpRequestException ex) when (ex.GetBaseException() is HttpProtocolException { ErrorCode: 0xb })
        {
            // A fast client that has the server reset streams trips Kestrel's rapid-reset
            // protection (CVE-2023-44487): a reset, which the case may get; the run bounds how many.
            Interlocked.Increment(ref _shedByKestrel);
            return null;
        }
        catch (Exception ex) when (IsStreamReset(ex))
        {
            return fuzzCase.Expect.MayReset ? null : $"{fuzzCase}: stream reset ({ex.GetBaseException().Message}), expected {string.Join("|", fuzzCase.Expect.Statuses)}";
        }
        catch (Exception ex)
        {
            return $"{fuzzCase}: {ex.GetType().Name} {ex.Message}";
        }

        using (response)
        {
            var expect = fuzzCase.Expect;
            if ((int)response.StatusCode != expect.HttpStatus)
            {
                return $"{fuzzCase}: HTTP {(int)response.StatusCode}, expected {expect.HttpStatus}";
            }

            var statusText = Value(response.TrailingHeaders, "grpc-status") ?? Value(response.Headers, "grpc-status");
            if (!int.TryParse(statusText, NumberStyles.None, CultureInfo.InvariantCulture, out var code) || code is < 0 or > 16)
            {
                return $"{fuzzCase}: grpc-status '{statusText}' is not a status code";
            }

            var message = Value(response.TrailingHeaders, "grpc-message") ?? Value(response.Headers, "grpc-message") ?? "";
            if (!expect.Statuses.Contains((StatusCode)code))
            {
                return $"{fuzzCase}: {(StatusCode)code} '{Shorten(PercentEncoding.Decode(message))}', expected {string.Join("|", expect.Statuses)}";
            }

            if (code != 0 && expect.MessageContains is { } part && !PercentEncoding.Decode(message).Contains(part, StringComparison.Ordinal))
            {
                return $"{fuzzCase}: grpc-message '{Shorten(PercentEncoding.Decode(message))}' lacks '{part}'";
            }

            if (message.Length > 8 * 1024)
            {
                return $"{fuzzCase}: grpc-message of {message.Length} bytes, over what gRPC clients accept";
            }

            if (code == 0 && (expect.ResponsePayloadSize is not null || expect.AggregatedSize is not null))
            {
                return CheckResponse(fuzzCase, body);
            }

            return null;
        }
    }

    private static string? CheckResponse(FuzzCase fuzzCase, byte[] body)
    {
        var buffer = new System.Buffers.ReadOnlySequence<byte>(body);
        if (MessageFraming.TryRead(ref buffer, int.MaxValue, out var compressed, out var payload, out _) != FrameReadResult.Message || compressed || !buffer.IsEmpty)
        {
            return $"{fuzzCase}: the response body is not one uncompressed message ({body.Length} bytes)";
        }

        if (fuzzCase.Expect.AggregatedSize is { } aggregated)
        {
            var streamed = StreamingInputCallResponse.Parser.ParseFrom(payload);
            return streamed.AggregatedPayloadSize == aggregated ? null : $"{fuzzCase}: aggregated {streamed.AggregatedPayloadSize}, expected {aggregated}";
        }

        var response = SimpleResponse.Parser.ParseFrom(payload);
        var size = response.Payload?.Body.Length ?? 0;
        return size == fuzzCase.Expect.ResponsePayloadSize ? null : $"{fuzzCase}: response payload {size} bytes, expected {fuzzCase.Expect.ResponsePayloadSize}";
    }

    private static bool IsStreamReset(Exception ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is HttpProtocolException or HttpIOException)
            {
                return true;
            }
        }

        return false;
    }

    private static string Shorten(string text) => text.Length > 200 ? text[..200] : text;

    private static string? Value(HttpHeaders headers, string key) => headers.TryGetValues(key, out var values) ? values.FirstOrDefault() : null;

    private static int Setting(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : fallback;
}
