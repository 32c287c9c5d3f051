using System.Collections.Concurrent;
using System.Threading.Channels;
using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Storage;

namespace BedBureau.Gateway;

/// <summary>
/// A committed referral event with the referral after it; or, without them, word that another
/// node committed to <see cref="Grain"/> (all of the hospital's grains when its profile is
/// empty): the watcher reads the grain's events after its cursor.
/// </summary>
public sealed record CommittedEvent(BedGrainKey Grain, ReferralEvent? Event = null, Referral? Referral = null)
{
    public bool Elsewhere => Event is null;
}

/// <summary>
/// Fans committed grain changes out to watch streams: hospitals' WatchReferrals get the events
/// of their grains, patients' WatchQueueStatus a signal that their grain changed (a position
/// may move when someone ahead leaves). Never blocks a grain: a watcher that falls behind its
/// bounded buffer (<paramref name="watcherCapacity"/> events) is dropped and resumes from its token.
/// </summary>
public sealed class ReferralEventHub(int watcherCapacity = ReferralEventHub.DefaultWatcherCapacity) : IBedGrainObserver
{
    public const int DefaultWatcherCapacity = 10_000;

    private readonly ConcurrentDictionary<string, ConcurrentDictionary<Subscription, byte>> _byHospital = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<BedGrainKey, Signal> _signals = new();

    public void OnCommitted(BedGrainKey key, BedGrainChange change)
    {
        if (change.Events.Count > 0 && _byHospital.TryGetValue(key.HospitalId, out var subscribers) && !subscribers.IsEmpty)
        {
            foreach (var @event in change.Events)
            {
                var referral = change.Referrals.First(r => r.HospitalizationCode == @event.HospitalizationCode);
                foreach (var subscriber in subscribers.Keys)
                {
                    subscriber.Offer(new CommittedEvent(key, @event, referral));
                }
            }
        }

        if (_signals.TryGetValue(key, out var signal))
        {
            signal.Pulse();
        }
    }

    /// <summary>Another node committed to the grain (heard through <see cref="NodeCoherence"/>): its watchers here read what changed.</summary>
    public void OnCommittedElsewhere(BedGrainKey key)
    {
        if (_byHospital.TryGetValue(key.HospitalId, out var subscribers))
        {
            foreach (var subscriber in subscribers.Keys)
            {
                subscriber.Offer(new CommittedEvent(key));
            }
        }

        if (_signals.TryGetValue(key, out var signal))
        {
            signal.Pulse();
        }
    }

    /// <summary>This node may have missed other nodes' commits to any grain: every watcher reads what changed.</summary>
    public void OnMissedCommitsElsewhere()
    {
        foreach (var (hospitalId, subscribers) in _byHospital)
        {
            foreach (var subscriber in subscribers.Keys)
            {
                subscriber.Offer(new CommittedEvent(new BedGrainKey(hospitalId, "")));
            }
        }

        foreach (var signal in _signals.Values)
        {
            signal.Pulse();
        }
    }

    /// <summary>Open hospital subscriptions (WatchReferrals streams), all hospitals together.</summary>
    public int Watchers => _byHospital.Values.Sum(s => s.Count);

    /// <summary>The most events any one watcher has waiting (at most its capacity).</summary>
    public int LargestBacklog => _byHospital.Values.SelectMany(s => s.Keys).Select(s => s.Events.Count).DefaultIfEmpty().Max();

    /// <summary>Events of the hospital's grains from now on; dispose to stop.</summary>
    public Subscription SubscribeHospital(string hospitalId)
    {
        var subscribers = _byHospital.GetOrAdd(hospitalId, _ => new ConcurrentDictionary<Subscription, byte>());
        var subscription = new Subscription(watcherCapacity, s => subscribers.TryRemove(s, out _));
        subscribers[subscription] = 0;
        return subscription;
    }

    /// <summary>Completes at the next commit of the grain.</summary>
    public Task NextChange(BedGrainKey key) => _signals.GetOrAdd(key, _ => new Signal()).Next;

    public sealed class Subscription(int capacity, Action<Subscription> unsubscribe) : IDisposable
    {
        private readonly Channel<CommittedEvent> _channel = Channel.CreateBounded<CommittedEvent>(new BoundedChannelOptions(capacity) { SingleReader = true });

        public ChannelReader<CommittedEvent> Events => _channel.Reader;

        /// <summary>True once events were dropped because the reader was too slow.</summary>
        public bool Overflowed { get; private set; }

        internal void Offer(CommittedEvent committed)
        {
            if (!_channel.Writer.TryWrite(committed) && !Overflowed)
            {
                Overflowed = true;
                _channel.Writer.TryComplete();
            }
        }

        public void Dispose()
        {
            unsubscribe(this);
            _channel.Writer.TryComplete();
        }
    }

    private sealed class Signal
    {
        private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Next => Volatile.Read(ref _next).Task;

        public void Pulse() =>
            Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }
}
