using BedBureau.BedGrain.Runtime;
using Microsoft.Extensions.Time.Testing;
using static BedBureau.BedGrain.Tests.TestWorld;

namespace BedBureau.BedGrain.Tests;

public sealed class GrainRuntimeTests
{
    private sealed class CountingGrain(int id) : IGrain
    {
        public int Id { get; } = id;

        public int Running;

        public int MaxRunning;

        public DateTimeOffset? NextWakeUp { get; set; }

        public int WakeUps;

        /// <summary>When set, a wake-up before <see cref="NextWakeUp"/> does nothing, as a real grain's.</summary>
        public TimeProvider? Clock { get; set; }

        /// <summary>While set, each wake-up fails with it (and is counted in <see cref="FailedWakeUps"/>).</summary>
        public Exception? WakeUpFailure { get; set; }

        public int FailedWakeUps;

        public int Trims;

        public bool Trim()
        {
            Trims++;
            return true;
        }

        public Task WakeUpAsync(CancellationToken cancellationToken)
        {
            if (Clock is not null && NextWakeUp > Clock.GetUtcNow())
            {
                return Task.CompletedTask;
            }

            if (WakeUpFailure is { } failure)
            {
                Interlocked.Increment(ref FailedWakeUps);
                return Task.FromException(failure);
            }

            WakeUps++;
            NextWakeUp = null;
            return Task.CompletedTask;
        }
    }

    private static GrainRuntime<string, CountingGrain> Runtime(FakeTimeProvider time, Func<int>? activations = null, int mailbox = 1000, TimeSpan? trimAfter = null)
    {
        var count = 0;
        return new GrainRuntime<string, CountingGrain>(
            (_, _) => Task.FromResult(new CountingGrain(Interlocked.Increment(ref count))),
            new GrainRuntimeOptions { MailboxBound = mailbox, IdleTimeout = TimeSpan.FromMinutes(10), TrimAfter = trimAfter },
            time);
    }

    [Fact]
    public async Task A_turn_that_finds_its_activation_stale_runs_again_on_a_fresh_one_a_bounded_number_of_times()
    {
        await using var runtime = Runtime(new FakeTimeProvider());
        var seen = new List<int>();

        // Stale on the first activation only: the caller gets the second one's answer.
        var answer = await runtime.CallAsync("a", 0, (g, _) =>
        {
            seen.Add(g.Id);
            return g.Id == 1 ? Task.FromException<int>(new StaleActivationException("another node committed")) : Task.FromResult(g.Id);
        });

        Assert.Equal(2, answer);
        Assert.Equal([1, 2], seen);

        // Stale every time: after StaleRuns runs the conflict reaches the caller, and the
        // activation that saw it is gone too.
        seen.Clear();
        await Assert.ThrowsAsync<StaleActivationException>(() => runtime.CallAsync("a", 0, (g, _) =>
        {
            seen.Add(g.Id);
            return Task.FromException<int>(new StaleActivationException("another node keeps committing"));
        }));
        Assert.Equal([2, 3, 4], seen);
        Assert.Equal(GrainRuntime<string, CountingGrain>.StaleRuns, seen.Count);
        Assert.Equal(5, await runtime.CallAsync("a", 0, (g, _) => Task.FromResult(g.Id)));
    }

    [Fact]
    public async Task One_call_at_a_time_per_grain_even_across_awaits()
    {
        await using var runtime = Runtime(new FakeTimeProvider());

        var calls = Enumerable.Range(0, 200).Select(_ => Task.Run(() => runtime.CallAsync("a", 0, static async (grain, _) =>
        {
            var running = Interlocked.Increment(ref grain.Running);
            grain.MaxRunning = Math.Max(grain.MaxRunning, running);
            await Task.Yield();
            await Task.Delay(1);
            Interlocked.Decrement(ref grain.Running);
            return grain;
        })));
        var grains = await Task.WhenAll(calls);

        Assert.Single(grains.Distinct());
        Assert.Equal(1, grains[0].MaxRunning);
    }

    [Fact]
    public async Task Different_grains_run_in_parallel()
    {
        await using var runtime = Runtime(new FakeTimeProvider());
        var bothInside = new TaskCompletionSource();
        var inside = 0;

        async Task<int> Enter(CountingGrain grain, int _)
        {
            if (Interlocked.Increment(ref inside) == 2)
            {
                bothInside.SetResult();
            }

            await bothInside.Task.WaitAsync(TimeSpan.FromSeconds(10));
            return grain.Id;
        }

        var ids = await Task.WhenAll(runtime.CallAsync("a", 0, Enter), runtime.CallAsync("b", 0, Enter));

        Assert.NotEqual(ids[0], ids[1]);
    }

    [Fact]
    public async Task Past_the_mailbox_bound_calls_fail_fast()
    {
        await using var runtime = Runtime(new FakeTimeProvider(), mailbox: 3);
        var release = new TaskCompletionSource<int>();

        var held = Enumerable.Range(0, 3).Select(_ => runtime.CallAsync("a", 0, (_, _) => release.Task)).ToArray();
        var rejected = await Assert.ThrowsAsync<GrainOverloadedException>(() => runtime.CallAsync("a", 0, (_, _) => Task.FromResult(0)));
        release.SetResult(1);
        await Task.WhenAll(held);

        Assert.Contains("a", rejected.Message, StringComparison.Ordinal);
        Assert.Equal(1, runtime.OverloadRejections);
        Assert.Equal(0, await runtime.CallAsync("a", 0, (_, _) => Task.FromResult(0)));
    }

    [Fact]
    public async Task Mailbox_depth_counts_the_calls_waiting_behind_the_running_turn()
    {
        await using var runtime = Runtime(new FakeTimeProvider());
        var release = new TaskCompletionSource<int>();

        var onA = Enumerable.Range(0, 4).Select(_ => runtime.CallAsync("a", 0, (_, _) => release.Task)).ToArray();
        var onB = Enumerable.Range(0, 2).Select(_ => runtime.CallAsync("b", 0, (_, _) => release.Task)).ToArray();
        var whileBusy = runtime.MailboxDepth();
        release.SetResult(1);
        await Task.WhenAll(onA.Concat(onB));

        Assert.Equal((3 + 1, 3), whileBusy);
        Assert.Equal((0, 0), runtime.MailboxDepth());
    }

    [Fact]
    public async Task Idle_grains_deactivate_and_the_next_call_activates_anew()
    {
        var time = new FakeTimeProvider();
        await using var runtime = Runtime(time);
        var first = await runtime.CallAsync("a", 0, (g, _) => Task.FromResult(g));

        time.Advance(TimeSpan.FromMinutes(16));
        await WaitUntil(() => runtime.ActivationCount == 0);
        var second = await runtime.CallAsync("a", 0, (g, _) => Task.FromResult(g));

        Assert.NotSame(first, second);
        Assert.Equal(2, runtime.Activations);
        Assert.Equal(1, runtime.Deactivations);
    }

    [Fact]
    public async Task An_idle_grain_is_trimmed_and_stays_active_until_its_idle_timeout()
    {
        var time = new FakeTimeProvider();
        await using var runtime = Runtime(time, trimAfter: TimeSpan.FromMinutes(2));
        var grain = await runtime.CallAsync("a", 0, (g, _) => Task.FromResult(g));
        var busy = await runtime.CallAsync("b", 0, (g, _) => Task.FromResult(g));

        time.Advance(TimeSpan.FromMinutes(1)); // a sweep: nobody idle for 2 minutes yet
        await runtime.CallAsync("b", 0, (g, _) => Task.FromResult(g));
        time.Advance(TimeSpan.FromMinutes(1.5)); // "a" idle 2.5 minutes, "b" 1.5
        await WaitUntil(() => grain.Trims > 0);

        Assert.Equal(0, busy.Trims);
        Assert.Same(grain, await runtime.CallAsync("a", 0, (g, _) => Task.FromResult(g)));
        Assert.Equal((1, 1L), (grain.Trims, runtime.Trims)); // once: the sweep at 2 minutes
        Assert.Equal((2L, 0L), (runtime.Activations, runtime.Deactivations));

        time.Advance(TimeSpan.FromMinutes(11));
        await WaitUntil(() => runtime.ActivationCount == 0);
        Assert.NotSame(grain, await runtime.CallAsync("a", 0, (g, _) => Task.FromResult(g)));
    }

    [Fact]
    public async Task A_busy_grain_is_not_deactivated()
    {
        var time = new FakeTimeProvider();
        await using var runtime = Runtime(time);
        var release = new TaskCompletionSource<CountingGrain>();
        var first = await runtime.CallAsync("a", 0, (g, _) => Task.FromResult(g));
        var busy = runtime.CallAsync("a", 0, (g, _) => release.Task);

        time.Advance(TimeSpan.FromMinutes(16));
        release.SetResult(first);
        await busy;

        Assert.Same(first, await runtime.CallAsync("a", 0, (g, _) => Task.FromResult(g)));
    }

    [Fact]
    public async Task A_wake_up_reactivates_a_deactivated_grain_when_due()
    {
        var time = new FakeTimeProvider();
        await using var runtime = Runtime(time);
        await runtime.CallAsync("a", 0, (g, _) =>
        {
            g.NextWakeUp = time.GetUtcNow().AddHours(2);
            return Task.FromResult(0);
        });

        time.Advance(TimeSpan.FromMinutes(30)); // idle: deactivated
        await WaitUntil(() => runtime.ActivationCount == 0);
        time.Advance(TimeSpan.FromHours(2));
        await WaitUntil(() => runtime.Activations == 2);
        var woken = await runtime.CallAsync("a", 0, (g, _) => Task.FromResult(g));

        await WaitUntil(() => woken.WakeUps == 1);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_failed_wake_up_is_tried_again_after_a_pause_not_at_once(bool staleActivation)
    {
        var time = new FakeTimeProvider();
        var failure = staleActivation ? new StorageConflictException("another node committed") : (Exception)new IOException("database unreachable");
        var grains = new List<CountingGrain>();
        var failing = true;
        await using var runtime = new GrainRuntime<string, CountingGrain>(
            (_, _) =>
            {
                // Every activation fails its wake-up until the test lifts the failure.
                var grain = new CountingGrain(grains.Count + 1) { WakeUpFailure = Volatile.Read(ref failing) ? failure : null, NextWakeUp = time.GetUtcNow().AddHours(1) };
                lock (grains)
                {
                    grains.Add(grain);
                }

                return Task.FromResult(grain);
            },
            new GrainRuntimeOptions { IdleTimeout = TimeSpan.FromDays(1), WakeUpRetryAfter = TimeSpan.FromMinutes(1) },
            time);
        await runtime.CallAsync("a", 0, (g, _) => Task.FromResult(0));
        int Failed() { lock (grains) { return grains.Sum(g => g.FailedWakeUps); } }

        time.Advance(TimeSpan.FromHours(1));
        await WaitUntil(() => Failed() == 1);
        await Task.Delay(200); // a retry at once would run hundreds of times meanwhile
        time.Advance(TimeSpan.FromSeconds(59));
        await Task.Delay(50);
        Assert.Equal(1, Failed());

        lock (grains)
        {
            Volatile.Write(ref failing, false);
            grains.ForEach(g => g.WakeUpFailure = null);
        }

        time.Advance(TimeSpan.FromSeconds(1));
        await WaitUntil(() => { lock (grains) { return grains.Sum(g => g.WakeUps) == 1; } });
        Assert.Equal(1, Failed());
        Assert.Equal(staleActivation ? 2 : 1, runtime.Activations);
    }

    [Fact]
    public async Task A_wake_up_further_ahead_than_a_timer_can_wait_is_kept_and_comes_when_due()
    {
        // 80 days: beyond the ~49.7 days a timer accepts, within the 90-day calendar.
        var time = new FakeTimeProvider();
        await using var runtime = new GrainRuntime<string, CountingGrain>(
            (_, _) => Task.FromResult(new CountingGrain(1)), new GrainRuntimeOptions { IdleTimeout = TimeSpan.FromDays(30) }, time);
        var grain = await runtime.CallAsync("a", 0, (g, _) =>
        {
            g.Clock = time;
            g.NextWakeUp = time.GetUtcNow().AddDays(80);
            return Task.FromResult(g);
        });

        for (var day = 1; day < 80; day++)
        {
            time.Advance(TimeSpan.FromDays(1));
            await runtime.CallAsync("a", 0, (g, _) => Task.FromResult(0)); // keeps it active
        }

        Assert.Equal(0, grain.WakeUps);
        time.Advance(TimeSpan.FromDays(1));
        await WaitUntil(() => grain.WakeUps == 1);
    }

    [Fact]
    public async Task A_wake_up_days_ahead_leaves_its_idle_grain_inactive_until_it_is_due()
    {
        var time = new FakeTimeProvider();
        var due = time.GetUtcNow().AddDays(3);
        var activations = 0;
        await using var runtime = new GrainRuntime<string, CountingGrain>(
            (_, _) => Task.FromResult(new CountingGrain(Interlocked.Increment(ref activations)) { Clock = time, NextWakeUp = due }),
            new GrainRuntimeOptions { IdleTimeout = TimeSpan.FromMinutes(10) }, time);
        await runtime.CallAsync("a", 0, (g, _) => Task.FromResult(0));

        time.Advance(TimeSpan.FromDays(2)); // past the day its timer waits at most
        await Task.Delay(200); // an early wake-up would activate the grain on the thread pool meanwhile
        Assert.Equal(0, runtime.ActivationCount);
        Assert.Equal(1, Volatile.Read(ref activations));

        time.Advance(TimeSpan.FromDays(1));
        await WaitUntil(() => runtime.ActivationCount == 1);
        Assert.Equal(2, Volatile.Read(ref activations));
    }

    [Fact]
    public async Task A_failed_activation_fails_the_call_and_the_next_call_retries()
    {
        var attempts = 0;
        await using var runtime = new GrainRuntime<string, CountingGrain>(
            (_, _) => ++attempts == 1 ? throw new IOException("storage down") : Task.FromResult(new CountingGrain(attempts)),
            new GrainRuntimeOptions(), new FakeTimeProvider());

        await Assert.ThrowsAsync<IOException>(() => runtime.CallAsync("a", 0, (g, _) => Task.FromResult(g)));
        var grain = await runtime.CallAsync("a", 0, (g, _) => Task.FromResult(g));

        Assert.Equal(2, grain.Id);
    }
}
