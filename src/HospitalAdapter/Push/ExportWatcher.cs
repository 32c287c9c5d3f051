using BedBureau.HospitalAdapter.Input;
using BedBureau.Wire;

namespace BedBureau.HospitalAdapter.Push;

/// <summary>What the watcher is doing, for the console and for tests.</summary>
public interface IWatchObserver
{
    void Rejected(InputException error);

    void Retrying(int attempt, RpcException error, TimeSpan wait);

    void Pushed(PushPlan plan, PushOutcome outcome);
}

/// <summary>
/// Keeps the bureau current from export files: pushes at start, when a file changes and, if
/// asked, every <c>interval</c>. Files are polled (modification time and size) rather than
/// watched with inotify, which misses changes on the network shares exports often live on.
/// A transient failure is retried with backoff until it succeeds or a newer export replaces it;
/// a bad file or a rejected push waits for the next change. A certificate of the bureau that
/// fails its checks ends the watch (<see cref="Configuration.ServerCertificateException"/>):
/// waiting cannot fix it. Without a pusher it is a dry run: each export is read, checked and
/// reported, never sent.
/// </summary>
public sealed class ExportWatcher(
    Func<DateTimeOffset, HospitalExport> read,
    IReadOnlyList<string> files,
    Func<HospitalExport, PushPlan> plan,
    Pusher? pusher,
    IWatchObserver observer,
    TimeProvider time,
    TimeSpan poll,
    TimeSpan? interval)
{
    /// <summary>Runs until cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (pusher is not null)
        {
            pusher.Retrying += observer.Retrying;
        }

        var seen = Fingerprint();
        var nextInterval = interval is { } every ? time.GetUtcNow() + every : DateTimeOffset.MaxValue;
        while (!cancellationToken.IsCancellationRequested)
        {
            // A change while a push waits to retry supersedes it: the newer export is what counts.
            using var superseded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var push = PushOnceAsync(superseded.Token);
            while (!push.IsCompleted)
            {
                await Task.WhenAny(push, Task.Delay(poll, time, cancellationToken)).ConfigureAwait(false);
                if (!push.IsCompleted && Fingerprint() != seen)
                {
                    await superseded.CancelAsync().ConfigureAwait(false);
                }
            }

            await push.ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();

            // Wait for a change that has settled (same fingerprint over one poll) or the interval.
            while (true)
            {
                var current = Fingerprint();
                if (current != seen)
                {
                    await Task.Delay(poll, time, cancellationToken).ConfigureAwait(false);
                    if (Fingerprint() == current)
                    {
                        seen = current;
                        break;
                    }

                    continue;
                }

                if (time.GetUtcNow() >= nextInterval)
                {
                    nextInterval = time.GetUtcNow() + interval!.Value;
                    break;
                }

                await Task.Delay(poll, time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task PushOnceAsync(CancellationToken cancellationToken)
    {
        HospitalExport export;
        try
        {
            export = read(time.GetUtcNow());
        }
        catch (InputException ex)
        {
            observer.Rejected(ex);
            return;
        }

        var calls = plan(export);
        if (pusher is null)
        {
            observer.Pushed(calls, new PushOutcome(true, null, [], null));
            return;
        }

        try
        {
            var outcome = await pusher.PushAsync(calls, maxAttempts: null, cancellationToken).ConfigureAwait(false);
            if (!cancellationToken.IsCancellationRequested)
            {
                observer.Pushed(calls, outcome);
            }
        }
        catch (InputException ex)
        {
            observer.Rejected(ex);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private string Fingerprint() => string.Join('|', files.Select(f =>
    {
        var info = new FileInfo(f);
        return info.Exists ? $"{info.LastWriteTimeUtc.Ticks}:{info.Length}" : "-";
    }));
}
