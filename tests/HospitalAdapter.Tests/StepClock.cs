using Microsoft.Extensions.Time.Testing;

namespace BedBureau.HospitalAdapter.Tests;

/// <summary>A fake clock that tells when the watcher starts to wait, so a test moves time on only then.</summary>
internal sealed class StepClock(DateTimeOffset start) : FakeTimeProvider(start)
{
    private readonly SemaphoreSlim _waits = new(0);

    public StepClock()
        : this(new DateTimeOffset(2026, 11, 23, 9, 0, 0, TimeSpan.FromHours(5)))
    {
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        _waits.Release();
        return timer;
    }

    public async Task NextWaitAsync() => Assert.True(await _waits.WaitAsync(TimeSpan.FromSeconds(10)), "the watcher did not wait for its next poll");
}
