using System.Net;
using BedBureau.Contract.V1;
using BedBureau.HospitalAdapter.Configuration;
using BedBureau.HospitalAdapter.Input;
using BedBureau.HospitalAdapter.Push;
using BedBureau.Wire;
using BedBureau.Wire.Client;

namespace BedBureau.HospitalAdapter.Tests;

/// <summary>Pushing to a real gateway: idempotent retries, calendars, watching files through an outage.</summary>
[Collection(GatewayCollection.Name)]
public sealed class PushTests(GatewayFixture fixture) : IDisposable
{
    private static readonly TimeSpan WatchPoll = TimeSpan.FromMilliseconds(100);

    private readonly string _directory = Directory.CreateTempSubdirectory("adapter-push").FullName;

    /// <summary>Where the exports made up here come from.</summary>
    private static readonly Origin Test = new("test", "line 2");

    private static DateOnly Today => ExportRules.Today(DateTimeOffset.UtcNow);

    [Fact]
    public async Task A_calendar_and_a_count_set_back_to_an_earlier_value_are_applied()
    {
        var gateway = fixture.Gateway;
        var profile = (await gateway.GetHospitalAsync()).Hospital.BedProfileCodes[0];
        var settings = Settings(gateway.Address, gateway.HospitalKey);
        using var channel = settings.CreateChannel();
        var client = new BureauClient(channel, settings.Timeout);
        var pusher = new Pusher(client, Backoff.Default(), TimeProvider.System);
        var date = Today.AddDays(60);
        var at = DateTimeOffset.UtcNow;

        // Each push reads the export anew, as `push` run again or `watch` after a change does.
        foreach (var (slots, free) in new[] { (6, 3), (5, 4), (6, 3) })
        {
            var export = new HospitalExport([new BedCount(profile, 30, 20, free, 0, 0, at, Test)], [new ProfileCalendar(profile, [new CalendarDay(date, slots, Test)], Test)]);
            var outcome = await pusher.PushAsync(PushPlan.Build(export, gateway.HospitalId), 1, default);
            Assert.True(outcome.Succeeded, outcome.Error?.Message);
        }

        Assert.Equal(6, await gateway.SlotsAsync(profile, date));
        Assert.Equal(3, (await gateway.GetHospitalAsync()).Census.Single(c => c.BedProfileCode == profile).Free);
    }

    [Fact]
    public async Task A_push_retried_after_its_answer_was_lost_is_applied_once()
    {
        var gateway = fixture.Gateway;
        var profile = (await gateway.GetHospitalAsync()).Hospital.BedProfileCodes[0];
        var settings = Settings(gateway.Address, gateway.HospitalKey);
        using var channel = settings.CreateChannel();
        var client = new BureauClient(channel, settings.Timeout);
        var date = Today.AddDays(61);
        PushPlan Slots(int slots) => PushPlan.Build(new HospitalExport([], [new ProfileCalendar(profile, [new CalendarDay(date, slots, Test)], Test)]), gateway.HospitalId);

        // The first attempt reaches the bureau, which applies it; its answer is lost on the way
        // back, and before the adapter retries, another push sets the date to 5.
        var lossy = new LoseFirstAnswer(async () => Assert.True((await new Pusher(client, Backoff.Default(), TimeProvider.System).PushAsync(Slots(5), 1, default)).Succeeded));
        using var lossyChannel = gateway.HospitalChannel(lossy);
        var pusher = new Pusher(new BureauClient(lossyChannel, settings.Timeout), new Backoff(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(10), new Random(1)), TimeProvider.System);
        var retries = 0;
        pusher.Retrying += (_, _, _) => retries++;

        var outcome = await pusher.PushAsync(Slots(6), 3, default);

        Assert.True(outcome.Succeeded, outcome.Error?.Message);
        Assert.Equal((1, 2), (retries, lossy.Requests));

        // The retry carried the first attempt's request id: the bureau did not apply 6 again over the 5.
        Assert.Equal(5, await gateway.SlotsAsync(profile, date));
    }

    [Fact]
    public async Task A_proxy_answering_http_500_or_internal_is_retried_like_an_outage()
    {
        var gateway = fixture.Gateway;
        var profile = (await gateway.GetHospitalAsync()).Hospital.BedProfileCodes[^1];
        var date = Today.AddDays(62);

        // HTTP 500 arrives as UNKNOWN, HTTP 400 as INTERNAL (http-grpc-status-mapping.md).
        using var channel = gateway.HospitalChannel(new ProxyFailingFirst(HttpStatusCode.InternalServerError, HttpStatusCode.BadRequest));
        var pusher = new Pusher(new BureauClient(channel, TimeSpan.FromSeconds(5)), new Backoff(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(10), new Random(1)), TimeProvider.System);
        var failures = new List<StatusCode>();
        pusher.Retrying += (_, error, _) => failures.Add(error.StatusCode);

        // As watch pushes: no limit on attempts.
        var outcome = await pusher.PushAsync(PushPlan.Build(new HospitalExport([], [new ProfileCalendar(profile, [new CalendarDay(date, 9, Test)], Test)]), gateway.HospitalId), null, default);

        Assert.True(outcome.Succeeded, outcome.Error?.Message);
        Assert.Equal([StatusCode.Unknown, StatusCode.Internal], failures);
        Assert.Equal(9, Assert.Single(outcome.Calendars).Response.Days.Single(d => (d.Date.Year, d.Date.Month, d.Date.Day) == (date.Year, date.Month, date.Day)).Slots);
    }

    [Fact]
    public async Task A_plan_with_nothing_to_send_is_not_a_success()
    {
        var settings = Settings(fixture.Gateway.Address, fixture.Gateway.HospitalKey);
        using var channel = settings.CreateChannel();
        var pusher = new Pusher(new BureauClient(channel, settings.Timeout), Backoff.Default(), TimeProvider.System);

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => pusher.PushAsync(PushPlan.Build(new HospitalExport([], []), fixture.Gateway.HospitalId), 1, default));
    }

    [Fact]
    public async Task An_older_export_sent_afresh_is_refused_as_stale_and_the_same_export_again_is_accepted()
    {
        var gateway = fixture.Gateway;
        var profile = (await gateway.GetHospitalAsync()).Hospital.BedProfileCodes[0];
        var settings = Settings(gateway.Address, gateway.HospitalKey);
        using var channel = settings.CreateChannel();
        var pusher = new Pusher(new BureauClient(channel, settings.Timeout), Backoff.Default(), TimeProvider.System);
        var since = await LastReportedAsync(gateway, profile);
        var newer = PushPlan.Build(Export(profile, free: 6, since.AddMilliseconds(2)), gateway.HospitalId);
        var older = PushPlan.Build(Export(profile, free: 5, since.AddMilliseconds(1)), gateway.HospitalId);

        Assert.True((await pusher.PushAsync(newer, 1, default)).Succeeded);
        var refused = await pusher.PushAsync(older, 1, default);
        var again = await pusher.PushAsync(PushPlan.Build(Export(profile, free: 6, since.AddMilliseconds(2)), gateway.HospitalId), 1, default);

        Assert.Equal(StatusCode.FailedPrecondition, refused.Error?.StatusCode);
        Assert.Contains("[STALE_REPORT]", refused.Error!.Status.Detail, StringComparison.Ordinal);
        Assert.True(again.Succeeded, again.Error?.Message);
        Assert.Equal(6, (await gateway.GetHospitalAsync()).Census.Single(c => c.BedProfileCode == profile).Free);
    }

    [Fact]
    public async Task The_calendar_lands_and_the_bureau_answers_with_the_days_after_the_change()
    {
        var gateway = fixture.Gateway;
        var profile = (await gateway.GetHospitalAsync()).Hospital.BedProfileCodes[^1];
        var settings = Settings(gateway.Address, gateway.HospitalKey);
        using var channel = settings.CreateChannel();
        var pusher = new Pusher(new BureauClient(channel, settings.Timeout), Backoff.Default(), TimeProvider.System);
        var export = new HospitalExport([], [new ProfileCalendar(profile, [new CalendarDay(Today.AddDays(40), 11, Test), new CalendarDay(Today.AddDays(41), 12, Test)], Test)]);

        var outcome = await pusher.PushAsync(PushPlan.Build(export, gateway.HospitalId), 1, default);

        Assert.True(outcome.Succeeded, outcome.Error?.Message);
        var days = Assert.Single(outcome.Calendars).Response.Days;
        Assert.Equal(11, days.Single(d => d.Date.Year == Today.AddDays(40).Year && d.Date.Month == Today.AddDays(40).Month && d.Date.Day == Today.AddDays(40).Day).Slots);
        Assert.Equal(12, days.Single(d => d.Date.Year == Today.AddDays(41).Year && d.Date.Month == Today.AddDays(41).Month && d.Date.Day == Today.AddDays(41).Day).Slots);
    }

    [Fact]
    public async Task Watch_keeps_retrying_while_the_bureau_is_down_and_pushes_once_it_is_up_then_again_on_a_change()
    {
        var port = TestPorts.Free();
        var dataDirectory = Path.Combine(_directory, "data");
        var gateway = await TestGateway.StartAsync(port, dataDirectory);
        var (key, hospital, profile) = (gateway.HospitalKey, gateway.HospitalId, (await gateway.GetHospitalAsync()).Hospital.BedProfileCodes[0]);
        await gateway.StopAsync();

        var beds = Path.Combine(_directory, "beds.csv");
        File.WriteAllText(beds, $"bed_profile_code,total,occupied,free\n{profile},61,50,7\n");
        var observer = new RecordingObserver();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var settings = Settings($"http://127.0.0.1:{port}", key);
        using var channel = settings.CreateChannel();
        var pusher = new Pusher(new BureauClient(channel, TimeSpan.FromSeconds(5)), new Backoff(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(400), new Random(1)), TimeProvider.System);
        var watcher = new ExportWatcher(now => ExportReader.Read(beds, BedFileFormat.Auto, null, now), [beds],
            export => PushPlan.Build(export, hospital), pusher, observer, TimeProvider.System, TimeSpan.FromMilliseconds(100), null);
        var firstPush = observer.NextPush;
        var watching = watcher.RunAsync(stop.Token);
        try
        {
            await observer.RetriedAtLeast(3).WaitAsync(stop.Token);
            Assert.False(firstPush.IsCompleted);
            gateway = await TestGateway.StartAsync(port, dataDirectory);

            var pushed = await firstPush.WaitAsync(stop.Token);
            Assert.True(pushed.Succeeded, pushed.Error?.Message);
            Assert.Equal((61, 50, 7), Counts(await gateway.GetHospitalAsync(), profile));

            var changed = observer.NextPush;
            File.WriteAllText(beds, $"bed_profile_code,total,occupied,free\n{profile},61,55,3\n");
            Assert.True((await changed.WaitAsync(stop.Token)).Succeeded);
            Assert.Equal((61, 55, 3), Counts(await gateway.GetHospitalAsync(), profile));

            // A bad export is reported and not sent; the watcher keeps going.
            File.WriteAllText(beds, $"bed_profile_code,total,occupied,free\n{profile},61,55,30\n");
            var rejection = await observer.NextRejection.WaitAsync(stop.Token);
            Assert.Equal(("line 2", "free"), (rejection.Location, rejection.Field));
            Assert.Equal((61, 55, 3), Counts(await gateway.GetHospitalAsync(), profile));

            // So is one with a profile the hospital does not have, found in the bureau's directory.
            File.WriteAllText(beds, $"bed_profile_code,total,occupied,free\n{profile},61,50,1\n999,1,0,1\n");
            rejection = await observer.NextRejection.WaitAsync(stop.Token);
            Assert.Equal(("line 3", "bed_profile_code"), (rejection.Location, rejection.Field));
            Assert.Equal((61, 55, 3), Counts(await gateway.GetHospitalAsync(), profile));
            Assert.False(watching.IsCompleted);
        }
        finally
        {
            await stop.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => watching);
            await gateway.DisposeAsync();
        }
    }

    [Fact]
    public async Task Watch_lets_a_push_the_bureau_is_answering_finish_while_the_file_keeps_changing()
    {
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = new BeforeEachCall("ReportBeds", async (call, ct) =>
        {
            if (call == 1)
            {
                arrived.TrySetResult();
                await release.Task.WaitAsync(ct);
            }
        });
        var (beds, profile, written) = await WriteBedsAsync(free: 8);
        var clock = new StepClock(DateTimeOffset.UtcNow);
        var observer = new RecordingObserver();
        var pushed = observer.NextPush;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var watching = Watch(beds, calls, clock, Backoff.Default(), observer, stop.Token);
        try
        {
            // The first ReportBeds is with the bureau while the export is rewritten at every poll.
            await arrived.Task.WaitAsync(stop.Token);
            await clock.NextWaitAsync();
            for (var poll = 1; poll <= 2 * ExportWatcher.SettlePolls; poll++)
            {
                File.WriteAllText(beds, $"bed_profile_code,total,occupied,free\n{profile},62,50,{poll % 8}\n");
                File.SetLastWriteTimeUtc(beds, written.AddMilliseconds(poll));
                clock.Advance(WatchPoll);
                await clock.NextWaitAsync();
            }

            release.TrySetResult();
            var outcome = await pushed.WaitAsync(TimeSpan.FromSeconds(10), stop.Token);
            Assert.True(outcome.Succeeded, outcome.Error?.Message);
            Assert.Equal((62, 50, 8), Counts(await fixture.Gateway.GetHospitalAsync(), profile));
        }
        finally
        {
            await stop.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => watching);
        }
    }

    [Fact]
    public async Task Watch_replaces_a_push_waiting_to_retry_with_the_newer_export()
    {
        var calls = new BeforeEachCall("ReportBeds", (call, _) => call == 1 ? Task.FromException(new HttpRequestException("The bureau is unreachable (a test).")) : Task.CompletedTask);
        var (beds, profile, written) = await WriteBedsAsync(free: 8);
        var observer = new RecordingObserver();
        var pushed = observer.NextPush;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        // The retry would wait an hour; the newer export does not wait for it.
        var watching = Watch(beds, calls, TimeProvider.System, new Backoff(TimeSpan.FromHours(1), TimeSpan.FromHours(1), new Random(1)), observer, stop.Token);
        try
        {
            await observer.RetriedAtLeast(1).WaitAsync(stop.Token);
            File.WriteAllText(beds, $"bed_profile_code,total,occupied,free\n{profile},62,50,4\n");
            File.SetLastWriteTimeUtc(beds, written.AddMilliseconds(1));

            var outcome = await pushed.WaitAsync(stop.Token);
            Assert.True(outcome.Succeeded, outcome.Error?.Message);
            Assert.Equal(2, calls.Count);
            Assert.Equal((62, 50, 4), Counts(await fixture.Gateway.GetHospitalAsync(), profile));
        }
        finally
        {
            await stop.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => watching);
        }
    }

    /// <summary>A beds export for the fixture's hospital; returns the file, its profile and when it was written.</summary>
    private async Task<(string File, string Profile, DateTime Written)> WriteBedsAsync(int free)
    {
        var profile = (await fixture.Gateway.GetHospitalAsync()).Hospital.BedProfileCodes[0];
        var beds = Path.Combine(_directory, "beds.csv");
        File.WriteAllText(beds, $"bed_profile_code,total,occupied,free\n{profile},62,50,{free}\n");
        return (beds, profile, File.GetLastWriteTimeUtc(beds));
    }

    /// <summary>Watches <paramref name="beds"/> on the fixture's gateway through <paramref name="handler"/>, polling every <see cref="WatchPoll"/> of <paramref name="clock"/>.</summary>
    private Task Watch(string beds, HttpMessageHandler handler, TimeProvider clock, Backoff backoff, IWatchObserver observer, CancellationToken cancellationToken)
    {
        var channel = fixture.Gateway.HospitalChannel(handler);
        var pusher = new Pusher(new BureauClient(channel, TimeSpan.FromSeconds(30)), backoff, clock);
        var watcher = new ExportWatcher(now => ExportReader.Read(beds, BedFileFormat.Auto, null, now), [beds],
            export => PushPlan.Build(export, fixture.Gateway.HospitalId), pusher, observer, clock, WatchPoll, null);
        return RunAsync();

        async Task RunAsync()
        {
            using (channel)
            {
                await watcher.RunAsync(cancellationToken);
            }
        }
    }

    private static (int, int, int) Counts(GetHospitalResponse hospital, string profile) =>
        hospital.Census.Single(c => c.BedProfileCode == profile) is var c ? (c.Total, c.Occupied, c.Free) : default;

    /// <summary>When the profile's stored count was reported (the sample's, or an earlier test's): exports here are later.</summary>
    private static HospitalExport Export(string profile, int free, DateTimeOffset at) =>
        new([new BedCount(profile, 30, 20, free, 0, 0, at, Test)], []);

    private static async Task<DateTimeOffset> LastReportedAsync(TestGateway gateway, string profile) =>
        (await gateway.GetHospitalAsync()).Census.SingleOrDefault(c => c.BedProfileCode == profile)?.ReportedAt?.ToDateTimeOffset() ?? DateTimeOffset.UtcNow;

    private static AdapterSettings Settings(string server, string key) =>
        AdapterSettings.Resolve(new Dictionary<string, string?> { ["server"] = server, ["api_key"] = key }, _ => null, null);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>Passes calls to the bureau; the first SetAdmissionCapacity's answer is read in full, then lost, as when a connection drops.</summary>
    private sealed class LoseFirstAnswer(Func<Task> beforeLosing) : DelegatingHandler(new SocketsHttpHandler())
    {
        private int _requests;

        /// <summary>SetAdmissionCapacity requests.</summary>
        public int Requests => _requests;

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            if (!request.RequestUri!.AbsolutePath.EndsWith("/SetAdmissionCapacity", StringComparison.Ordinal) || Interlocked.Increment(ref _requests) > 1)
            {
                return response;
            }

            await response.Content.LoadIntoBufferAsync(cancellationToken);
            Assert.Equal("0", response.TrailingHeaders.GetValues("grpc-status").Single());
            response.Dispose();
            await beforeLosing();
            throw new HttpRequestException("The connection was reset (a test losing the answer).");
        }
    }

    /// <summary>A proxy in front of the bureau that answers the first requests itself with these HTTP errors, then passes them on.</summary>
    private sealed class ProxyFailingFirst(params HttpStatusCode[] errors) : DelegatingHandler(new SocketsHttpHandler())
    {
        private int _requests;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var index = Interlocked.Increment(ref _requests) - 1;
            return index < errors.Length
                ? Task.FromResult(new HttpResponseMessage(errors[index]) { RequestMessage = request, Version = request.Version })
                : base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>
    /// Passes calls to the bureau, each call of <paramref name="method"/> once <c>before</c>(its
    /// number among them, from 1) is done: a test holds or fails chosen calls there.
    /// </summary>
    private sealed class BeforeEachCall(string method, Func<int, CancellationToken, Task> before) : DelegatingHandler(new SocketsHttpHandler())
    {
        private int _count;

        /// <summary>The calls of the method so far.</summary>
        public int Count => _count;

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.RequestUri!.AbsolutePath.EndsWith($"/{method}", StringComparison.Ordinal))
            {
                await before(Interlocked.Increment(ref _count), cancellationToken);
            }

            return await base.SendAsync(request, cancellationToken);
        }
    }

    private sealed class RecordingObserver : IWatchObserver
    {
        private readonly object _gate = new();
        private int _retries;
        private TaskCompletionSource<PushOutcome> _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly List<(int Count, TaskCompletionSource Done)> _retryWaits = [];

        private TaskCompletionSource<InputException> _rejection = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<InputException> NextRejection
        {
            get
            {
                lock (_gate)
                {
                    return _rejection.Task;
                }
            }
        }

        public Task<PushOutcome> NextPush
        {
            get
            {
                lock (_gate)
                {
                    return _next.Task;
                }
            }
        }

        public Task RetriedAtLeast(int count)
        {
            lock (_gate)
            {
                var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                if (_retries >= count)
                {
                    done.SetResult();
                }
                else
                {
                    _retryWaits.Add((count, done));
                }

                return done.Task;
            }
        }

        public void Rejected(InputException error)
        {
            lock (_gate)
            {
                var current = _rejection;
                _rejection = new TaskCompletionSource<InputException>(TaskCreationOptions.RunContinuationsAsynchronously);
                current.SetResult(error);
            }
        }

        public void Retrying(int attempt, RpcException error, TimeSpan wait)
        {
            lock (_gate)
            {
                _retries++;
                foreach (var (count, done) in _retryWaits.Where(w => w.Count <= _retries))
                {
                    done.TrySetResult();
                }
            }
        }

        public void Pushed(PushPlan plan, PushOutcome? outcome)
        {
            lock (_gate)
            {
                var current = _next;
                _next = new TaskCompletionSource<PushOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
                current.SetResult(outcome ?? throw new InvalidOperationException("these watches send: no dry run"));
            }
        }
    }
}
