using Microsoft.Extensions.Time.Testing;

namespace Resilience.Http.Tests;

/// <summary>A fake clock that tells when its first timer is created, and for how long: a retry's delay has begun.</summary>
internal sealed class TimerWatchingTimeProvider(DateTimeOffset start) : FakeTimeProvider(start)
{
    private readonly TaskCompletionSource<TimeSpan> _timerCreated = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Gets a task that completes with the first timer's due time when it is created.</summary>
    public Task<TimeSpan> TimerCreated => _timerCreated.Task;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        _timerCreated.TrySetResult(dueTime);
        return timer;
    }
}
