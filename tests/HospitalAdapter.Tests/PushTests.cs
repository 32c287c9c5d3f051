using BedBureau.Contract.V1;
using BedBureau.HospitalAdapter.Configuration;
using BedBureau.HospitalAdapter.Input;
using BedBureau.HospitalAdapter.Push;
using BedBureau.Wire;

namespace BedBureau.HospitalAdapter.Tests;

/// <summary>Pushing to a real gateway: idempotent retries, calendars, watching files through an outage.</summary>
[Collection(GatewayCollection.Name)]
public sealed class PushTests(GatewayFixture fixture) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("adapter-push").FullName;

    private static DateOnly Today => ExportRules.Today(DateTimeOffset.UtcNow);

    [Fact]
    public async Task A_late_retry_of_an_older_export_does_not_overwrite_a_newer_one()
    {
        var gateway = fixture.Gateway;
        var profile = (await gateway.GetHospitalAsync()).Hospital.BedProfileCodes[0];
        var settings = Settings(gateway.Address, gateway.HospitalKey);
        using var channel = settings.CreateChannel();
        var pusher = new Pusher(new BureauClient(channel, settings.Timeout), Backoff.Default(), TimeProvider.System);
        var since = await LastReportedAsync(gateway, profile);
        var olderAt = since.AddMilliseconds(1);
        var older = PushPlan.Build(Export(profile, free: 3, olderAt), "", settings.Identity);
        var newer = PushPlan.Build(Export(profile, free: 4, since.AddMilliseconds(2)), "", settings.Identity);

        Assert.True((await pusher.PushAsync(older, 1, default)).Succeeded);
        Assert.True((await pusher.PushAsync(newer, 1, default)).Succeeded);

        // The first push's answer was lost, say: the adapter reads the same export again and resends.
        var again = PushPlan.Build(Export(profile, free: 3, olderAt), "", settings.Identity);
        Assert.Equal(older.Beds!.RequestId, again.Beds!.RequestId);
        Assert.True((await pusher.PushAsync(again, 1, default)).Succeeded);

        Assert.Equal(4, (await gateway.GetHospitalAsync()).Census.Single(c => c.BedProfileCode == profile).Free);
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
        var newer = PushPlan.Build(Export(profile, free: 6, since.AddMilliseconds(2)), "", settings.Identity);
        var older = PushPlan.Build(Export(profile, free: 5, since.AddMilliseconds(1)), "", settings.Identity);

        Assert.True((await pusher.PushAsync(newer, 1, default)).Succeeded);
        var refused = await pusher.PushAsync(older, 1, default);
        var again = await pusher.PushAsync(PushPlan.Build(Export(profile, free: 6, since.AddMilliseconds(2)), "", settings.Identity), 1, default);

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
        var export = new HospitalExport([], [new ProfileCalendar(profile, [new CalendarDay(Today.AddDays(40), 11), new CalendarDay(Today.AddDays(41), 12)])]);

        var outcome = await pusher.PushAsync(PushPlan.Build(export, "", settings.Identity), 1, default);

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
        var (key, profile) = (gateway.HospitalKey, (await gateway.GetHospitalAsync()).Hospital.BedProfileCodes[0]);
        await gateway.StopAsync();

        var beds = Path.Combine(_directory, "beds.csv");
        File.WriteAllText(beds, $"bed_profile_code,total,occupied,free\n{profile},61,50,7\n");
        var observer = new RecordingObserver();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var settings = Settings($"http://127.0.0.1:{port}", key);
        using var channel = settings.CreateChannel();
        var pusher = new Pusher(new BureauClient(channel, TimeSpan.FromSeconds(5)), new Backoff(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(400), new Random(1)), TimeProvider.System);
        var watcher = new ExportWatcher(now => ExportReader.Read(beds, BedFileFormat.Auto, null, now), [beds],
            export => PushPlan.Build(export, "", settings.Identity), pusher, observer, TimeProvider.System, TimeSpan.FromMilliseconds(100), null);
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
            Assert.False(watching.IsCompleted);
        }
        finally
        {
            await stop.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => watching);
            await gateway.DisposeAsync();
        }
    }

    private static (int, int, int) Counts(GetHospitalResponse hospital, string profile) =>
        hospital.Census.Single(c => c.BedProfileCode == profile) is var c ? (c.Total, c.Occupied, c.Free) : default;

    /// <summary>When the profile's stored count was reported (the sample's, or an earlier test's): exports here are later.</summary>
    private static async Task<DateTimeOffset> LastReportedAsync(TestGateway gateway, string profile) =>
        (await gateway.GetHospitalAsync()).Census.SingleOrDefault(c => c.BedProfileCode == profile)?.ReportedAt?.ToDateTimeOffset() ?? DateTimeOffset.UtcNow;

    private static AdapterSettings Settings(string server, string key) =>
        AdapterSettings.Resolve(new Dictionary<string, string?> { ["server"] = server, ["api_key"] = key }, _ => null, null);

    private static HospitalExport Export(string profile, int free, DateTimeOffset at) =>
        new([new BedCount(profile, 30, 20, free, 0, 0, at, "test")], []);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

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

        public void Pushed(PushPlan plan, PushOutcome outcome)
        {
            lock (_gate)
            {
                var current = _next;
                _next = new TaskCompletionSource<PushOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
                current.SetResult(outcome);
            }
        }
    }
}
