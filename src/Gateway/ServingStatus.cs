namespace BedBureau.Gateway;

/// <summary>
/// Whether the gateway can serve: false while its storage is unreachable. Health checks and
/// readiness read it; watchers wait on <see cref="NextChange"/>.
/// </summary>
public sealed class ServingStatus
{
    private readonly HashSet<string> _services;
    private TaskCompletionSource _nextChange = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _serving = true;

    public ServingStatus(IEnumerable<string> serviceNames)
    {
        _services = new HashSet<string>(serviceNames, StringComparer.Ordinal) { "" };
    }

    public bool IsServing => _serving;

    /// <summary>Completes at the next change of <see cref="IsServing"/>.</summary>
    public Task NextChange => Volatile.Read(ref _nextChange).Task;

    public bool IsKnown(string service) => _services.Contains(service);

    public void Set(bool serving)
    {
        if (_serving == serving)
        {
            return;
        }

        _serving = serving;
        Interlocked.Exchange(ref _nextChange, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }
}
