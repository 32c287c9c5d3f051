using BedBureau.HospitalAdapter.Input;
using BedBureau.Wire;

namespace BedBureau.HospitalAdapter.Push;

/// <summary>What the watcher is doing, for the console and for tests.</summary>
public interface IWatchObserver
{
    void Rejected(InputException error);

    void Retrying(int attempt, RpcException error, TimeSpan wait);

    /// <param name="outcome">Null in a dry run: shown, not sent.</param>
    void Pushed(PushPlan plan, PushOutcome? outcome);
}

/// <summary>
/// Keeps the bureau current from export files: pushes at start, when a file changes and, if
/// asked, every <c>interval</c>. Files are polled (modification time and size) rather than
/// watched with inotify, which misses changes on the network shares exports often live on.
/// A change is pushed once the files have stayed the same over one poll, or, when they keep
/// changing (a system that rewrites its export faster than the poll), once they have changed
/// for <see cref="SettlePolls"/> polls; the interval fires on time either way. An export is only
/// sent from a read the files did not change under, so a file caught mid-write is read again.
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
    /// <summary>Polls a change may go on changing before its newest complete read is pushed.</summary>
    public const int SettlePolls = 5;

    private int _retries;

    /// <summary>Runs until cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (pusher is not null)
        {
            pusher.Retrying += observer.Retrying;
            pusher.Retrying += (_, _, _) => Interlocked.Increment(ref _retries);
        }

        var nextInterval = interval is { } every ? time.GetUtcNow() + every : DateTimeOffset.MaxValue;
        string? lastRead = null;   // the files as last read (pushed or rejected)
        var previous = Fingerprint();
        DateTimeOffset? changedSince = null;
        var due = true;            // at start, and when the interval comes
        while (true)
        {
            var now = time.GetUtcNow();
            var current = Fingerprint();
            if (now >= nextInterval)
            {
                due = true;
                nextInterval += interval!.Value;
                if (nextInterval <= now)
                {
                    // Intervals missed during a long outage are one push, not a burst.
                    nextInterval = now + interval.Value;
                }
            }

            // A change is ready once it stayed the same over one poll, or has gone on changing for SettlePolls.
            changedSince = current == lastRead ? null : changedSince ?? now;
            var changeReady = changedSince is { } since && (current == previous || now - since >= poll * SettlePolls);
            previous = current;
            if ((due || changeReady) && TryRead(current, out var export))
            {
                (lastRead, due, changedSince) = (current, false, null);
                if (export is not null)
                {
                    await PushAsync(export, current, cancellationToken).ConfigureAwait(false);
                }
            }

            await Task.Delay(poll, time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Reads the export the files at <paramref name="fingerprint"/> hold: if they changed by the
    /// end of the read, it may be of a half-written file and is dropped (false) to be read again
    /// at a later poll. A bad file is reported (export null) like any complete read.
    /// </summary>
    private bool TryRead(string fingerprint, out HospitalExport? export)
    {
        InputException? rejected = null;
        try
        {
            export = read(time.GetUtcNow());
        }
        catch (InputException ex)
        {
            (export, rejected) = (null, ex);
        }

        if (Fingerprint() != fingerprint)
        {
            return false;
        }

        if (rejected is not null)
        {
            observer.Rejected(rejected);
        }

        return true;
    }

    private async Task PushAsync(HospitalExport export, string fingerprint, CancellationToken cancellationToken)
    {
        // A change while a push waits to retry supersedes it: the newer export is what counts.
        // A first attempt is let finish: cancelling it at each change would never let a push
        // through while the files change faster than the bureau answers.
        using var superseded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var retries = Volatile.Read(ref _retries);
        var push = PushOnceAsync(export, superseded.Token);
        while (!push.IsCompleted)
        {
            await Task.WhenAny(push, Task.Delay(poll, time, cancellationToken)).ConfigureAwait(false);
            if (!push.IsCompleted && Volatile.Read(ref _retries) != retries && Fingerprint() != fingerprint)
            {
                await superseded.CancelAsync().ConfigureAwait(false);
            }
        }

        await push.ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
    }

    private async Task PushOnceAsync(HospitalExport export, CancellationToken cancellationToken)
    {
        var calls = plan(export);
        if (pusher is null)
        {
            observer.Pushed(calls, null);
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
