namespace BedBureau.Gateway;

/// <summary>Pings the database every few seconds; health turns NOT_SERVING while it is unreachable.</summary>
internal sealed class StorageHealthMonitor(BureauHost host, ServingStatus status, IConfiguration configuration) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromSeconds(configuration.GetValue("Health:StorageCheckSeconds", 2.0));
        using var timer = new PeriodicTimer(interval);
        do
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            timeout.CancelAfter(interval);
            status.Set(await host.Storage.PingAsync(timeout.Token).ConfigureAwait(false));
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }
}
