using BedBureau.HospitalAdapter.Input;
using BedBureau.HospitalAdapter.Push;
using BedBureau.Wire;
using BedBureau.Wire.Client;

namespace BedBureau.HospitalAdapter.Tests;

/// <summary>When <c>watch</c> pushes, on a fake clock: a dry run, so every push is reported at once and nothing is sent.</summary>
public sealed class ExportWatcherTests : IDisposable
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(100);

    private readonly string _directory = Directory.CreateTempSubdirectory("adapter-watch").FullName;
    private readonly StepClock _clock = new();
    private readonly RecordingObserver _observer;
    private int _version;

    public ExportWatcherTests() => _observer = new RecordingObserver(_clock);

    private string File => Path.Combine(_directory, "beds.csv");

    [Fact]
    public async Task A_file_rewritten_faster_than_the_poll_is_pushed_once_it_has_changed_for_the_settle_bound()
    {
        var pushedAt = await WatchAsync(interval: null, polls: 30, read: _ => Export(1));

        // At start, then each time the file has gone on changing for SettlePolls polls.
        var every = (ExportWatcher.SettlePolls + 1) * Poll.TotalMilliseconds;
        Assert.Equal([0, every, 2 * every, 3 * every, 4 * every, 5 * every], pushedAt);
    }

    [Fact]
    public async Task Every_fires_on_time_while_the_file_keeps_changing()
    {
        var pushedAt = await WatchAsync(interval: TimeSpan.FromMilliseconds(300), polls: 30, read: _ => Export(1));

        Assert.Equal(Enumerable.Range(0, 11).Select(i => i * 300.0), pushedAt);
    }

    [Fact]
    public async Task A_read_the_file_changed_under_is_never_pushed_nor_reported_as_bad()
    {
        var reads = 0;
        HospitalExport Read(DateTimeOffset now)
        {
            // Every other read is of a file its writer is still writing.
            var n = ++reads;
            if (n % 2 == 1)
            {
                Rewrite();
                if (n == 3)
                {
                    throw new InputException(File, "line 2", "row", "has 2 fields, the header has 4");
                }
            }

            return Export(n);
        }

        // Read 1 at start and read 3, once the change of poll 2 settled, were torn: each is read again a poll later.
        await WatchAsync(interval: null, polls: 5, read: Read, rewriteAt: [2]);

        Assert.Equal([2, 4], _observer.Pushed.Select(p => p.Read));
        Assert.Empty(_observer.Rejections);
    }

    /// <summary>Runs the watcher for <paramref name="polls"/> polls, rewriting the file before each (or before those in <paramref name="rewriteAt"/>); returns the push times in ms.</summary>
    private async Task<IReadOnlyList<double>> WatchAsync(TimeSpan? interval, int polls, Func<DateTimeOffset, HospitalExport> read, int[]? rewriteAt = null)
    {
        Rewrite();
        var watcher = new ExportWatcher(read, [File], export => PushPlan.Build(export, ""), pusher: null, _observer, _clock, Poll, interval);
        using var stop = new CancellationTokenSource();
        var watching = watcher.RunAsync(stop.Token);
        await _clock.NextWaitAsync();
        for (var poll = 1; poll <= polls; poll++)
        {
            if (rewriteAt is null || rewriteAt.Contains(poll))
            {
                Rewrite();
            }

            _clock.Advance(Poll);
            await _clock.NextWaitAsync();
        }

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => watching);
        return _observer.Pushed.Select(p => (p.At - _clock.Start).TotalMilliseconds).ToArray();
    }

    /// <summary>A new version of the file, with a modification time of its own (whatever the file system's timestamp resolution).</summary>
    private void Rewrite()
    {
        var version = Interlocked.Increment(ref _version);
        System.IO.File.WriteAllText(File, $"version {version}\n");
        System.IO.File.SetLastWriteTimeUtc(File, new DateTime(2026, 11, 23, 0, 0, 0, DateTimeKind.Utc).AddSeconds(version));
    }

    /// <summary>An export that tells which read it came from (its free beds).</summary>
    private static HospitalExport Export(int read) => new([new BedCount("101", 100, 0, read, 0, 0, null, new Origin("test", "line 2"))], []);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private sealed class RecordingObserver(TimeProvider time) : IWatchObserver
    {
        public List<(DateTimeOffset At, int Read)> Pushed { get; } = [];

        public List<InputException> Rejections { get; } = [];

        public void Rejected(InputException error) => Rejections.Add(error);

        public void Retrying(int attempt, RpcException error, TimeSpan wait)
        {
        }

        void IWatchObserver.Pushed(PushPlan plan, PushOutcome? outcome) => Pushed.Add((time.GetUtcNow(), plan.Beds!.Reports[0].Free));
    }
}
