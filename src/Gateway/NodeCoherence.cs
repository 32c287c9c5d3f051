using System.Diagnostics.Metrics;
using System.Threading.Channels;
using BedBureau.Gateway.Storage;
using Npgsql;

namespace BedBureau.Gateway;

/// <summary>
/// Keeps this node's reads current with the commits of the other nodes sharing its PostgreSQL.
/// It hears their <see cref="GrainChangeNotices"/> on a connection of its own; for each grain
/// another node changed it brings this node's older activation up to date, reading only the
/// referrals changed since (<see cref="BedGrain.Bureau.RefreshAsync"/>; this brings the free-bed
/// index up to date too), then forgets the cached statuses of the
/// referrals that changed. Writes never needed this (every commit is checked against the stored
/// version); without it reads lagged until an activation went idle. Notices sent while the
/// connection was down are lost: on reconnecting, every activation is dropped, the index rebuilt
/// from storage and the cache forgotten.
/// </summary>
internal sealed partial class NodeCoherence : BackgroundService
{
    // A connection lost once is opened again at once; one that keeps failing, less and less often.
    private static readonly TimeSpan FirstPause = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan LongestPause = TimeSpan.FromSeconds(30);

    private readonly BureauHost _host;
    private readonly Cache.LookupCache _cache;
    private readonly ReferralEventHub _events;
    private readonly TimeProvider _time;
    private readonly ILogger<NodeCoherence> _logger;
    private long _applied;
    private long _resyncs;
    private int _connected = -1;

    public NodeCoherence(BureauHost host, Cache.LookupCache cache, ReferralEventHub events, TimeProvider time, ILogger<NodeCoherence> logger, IMeterFactory meterFactory)
    {
        _host = host;
        _cache = cache;
        _events = events;
        _time = time;
        _logger = logger;
        var meter = meterFactory.Create(StorageMetrics.MeterName);
        meter.CreateObservableCounter("bedbureau.nodes.notices", () => Interlocked.Read(ref _applied), "{grain}",
            "Grain commits of other nodes heard and applied here (activation dropped, index and cache brought up to date).");
        meter.CreateObservableCounter("bedbureau.nodes.resyncs", () => Interlocked.Read(ref _resyncs), "{resync}",
            "Times this node dropped every activation and rebuilt its index after its listener reconnected.");
        meter.CreateObservableGauge("bedbureau.nodes.listener.connected", Connected, "1",
            "1 while this node hears the other nodes' commits, 0 while its listener reconnects; absent on SQLite or with Storage:NodeCoherence=false.");
    }

    private IEnumerable<Measurement<int>> Connected() =>
        Volatile.Read(ref _connected) is var connected and >= 0 ? [new Measurement<int>(connected)] : [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_host.Storage is not { NodeCoherence: true, Postgres: { } postgres })
        {
            return;
        }

        var heard = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var applying = ApplyAsync(heard.Reader, stoppingToken);
        var pause = TimeSpan.Zero;
        var listenedBefore = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await postgres.OpenListenerAsync(stoppingToken).ConfigureAwait(false);
                connection.Notification += (_, e) => heard.Writer.TryWrite(e.Payload);
                await using (var listen = new NpgsqlCommand($"LISTEN {GrainChangeNotices.Channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken).ConfigureAwait(false);
                }

                Volatile.Write(ref _connected, 1);
                if (listenedBefore)
                {
                    await ResyncAsync(stoppingToken).ConfigureAwait(false);
                }

                listenedBefore = true;
                pause = TimeSpan.Zero;
                while (true)
                {
                    await connection.WaitAsync(stoppingToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                Volatile.Write(ref _connected, 0);
                LogListenerLost(_logger, ex, pause.TotalSeconds);
                try
                {
                    await Task.Delay(pause, _time, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                pause = pause == TimeSpan.Zero ? FirstPause : TimeSpan.FromTicks(Math.Min(LongestPause.Ticks, pause.Ticks * 2));
            }
        }

        heard.Writer.TryComplete();
        await applying.ConfigureAwait(false);
    }

    private async Task ApplyAsync(ChannelReader<string> heard, CancellationToken stoppingToken)
    {
        var own = _host.Storage.NodeId + "\t";
        try
        {
            await foreach (var payload in heard.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                if (payload.StartsWith(own, StringComparison.Ordinal))
                {
                    continue; // this node's own commits
                }

                if (GrainChangeNotices.Parse(payload) is not var (_, notices))
                {
                    LogUnreadableNotice(_logger, payload.Length);
                    continue;
                }

                await Task.WhenAll(notices.Select(notice => ApplyAsync(notice, stoppingToken))).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private async Task ApplyAsync(GrainChangeNotice notice, CancellationToken stoppingToken)
    {
        try
        {
            // The grain first, then the cache: a lookup that read the old activation and ends
            // after the invalidation does not cache what it read (see LookupCache).
            if (_host.Bureau.Directory.FindHospital(notice.HospitalId)?.ProfileCodes.Contains(notice.ProfileCode) == true)
            {
                await _host.Bureau.RefreshAsync(notice.Key, notice.Version, stoppingToken).ConfigureAwait(false);
            }

            _cache.OnChanged(notice.Key, notice.Codes);
            _events.OnCommittedElsewhere(notice.Key);
            Interlocked.Increment(ref _applied);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The activation, if any, was dropped or is current; the index catches up at the
            // grain's next activation. The cache must not keep the old statuses meanwhile, and
            // watchers read the grain afresh.
            _cache.OnChanged(notice.Key, notice.Codes);
            _events.OnCommittedElsewhere(notice.Key);
            LogRefreshFailed(_logger, ex, notice.Key.ToString());
        }
    }

    private async Task ResyncAsync(CancellationToken stoppingToken)
    {
        await _host.Bureau.Grains.DeactivateAllAsync().ConfigureAwait(false);
        _cache.ForgetAll();
        await _host.Bureau.RecoverAsync(stoppingToken).ConfigureAwait(false);
        _events.OnMissedCommitsElsewhere();
        Interlocked.Increment(ref _resyncs);
        LogResynced(_logger);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Not hearing the other nodes' commits (reads here may lag theirs); listening again in {Seconds} s")]
    private static partial void LogListenerLost(ILogger logger, Exception exception, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Listening to the other nodes again: dropped every activation, rebuilt the free-bed index, forgot the cache")]
    private static partial void LogResynced(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A notice of {Bytes} bytes on the grains' channel is not one of ours; ignored")]
    private static partial void LogUnreadableNotice(ILogger logger, int bytes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not refresh grain {Grain} after another node's commit; its next activation will")]
    private static partial void LogRefreshFailed(ILogger logger, Exception exception, string grain);
}
