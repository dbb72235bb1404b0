using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Time;

/// <summary>
/// A fake clock that counts the timers created on it: a test can wait until a waiter woken on a thread-pool thread has
/// gone back to sleep before it moves the clock again (a timer created after the move would start from the new time).
/// </summary>
internal sealed class TimerCountingTimeProvider : FakeTimeProvider
{
    private int _timers;

    public int TimersCreated => Volatile.Read(ref _timers);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        Interlocked.Increment(ref _timers);
        return timer;
    }

    /// <summary>Waits (bounded) until <paramref name="count"/> timers have been created; fails the test otherwise.</summary>
    public void WaitForTimers(int count) =>
        Assert.True(SpinWait.SpinUntil(() => TimersCreated >= count, TimeSpan.FromSeconds(30)), $"{TimersCreated} timers created, {count} expected");
}
