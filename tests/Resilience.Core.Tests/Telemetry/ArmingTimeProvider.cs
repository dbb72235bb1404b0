using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Telemetry;

/// <summary>
/// A fake clock that tells when a wait is armed on it: a timer whose state is not a cancellation source (a retry's
/// delay, a bucket's waiter; a timeout's source is not a wait a call rests in) given a due time, at its creation or
/// later (a bucket's waiter creates its timer first and sets it after). Each timer tells once: a waiter woken early
/// that waits on is still the one wait. The tell comes on the thread that arms the timer, which may not be the
/// driver's (a bucket's waiter ends on another).
/// </summary>
internal sealed class ArmingTimeProvider(DateTimeOffset start) : FakeTimeProvider(start)
{
    private int _armed;

    /// <summary>Gets the waits armed so far.</summary>
    public int Armed => Volatile.Read(ref _armed);

    /// <summary>Gets or sets what to do as a wait is armed (after it is counted).</summary>
    public Action? OnArmed { get; set; }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        if (state is CancellationTokenSource)
        {
            return timer;
        }

        var arming = new ArmingTimer(this, timer);
        if (dueTime != global::System.Threading.Timeout.InfiniteTimeSpan)
        {
            arming.Tell();
        }

        return arming;
    }

    private sealed class ArmingTimer(ArmingTimeProvider clock, ITimer timer) : ITimer
    {
        private int _told;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            var changed = timer.Change(dueTime, period);
            if (dueTime != global::System.Threading.Timeout.InfiniteTimeSpan)
            {
                Tell();
            }

            return changed;
        }

        public void Tell()
        {
            if (Interlocked.Exchange(ref _told, 1) == 0)
            {
                Interlocked.Increment(ref clock._armed);
                clock.OnArmed?.Invoke();
            }
        }

        public void Dispose() => timer.Dispose();

        public ValueTask DisposeAsync() => timer.DisposeAsync();
    }
}
