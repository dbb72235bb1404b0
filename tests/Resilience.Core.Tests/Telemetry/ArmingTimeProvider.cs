using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Telemetry;

/// <summary>
/// A fake clock that tells when a wait is armed on it: a timer whose state is not a cancellation source (a retry's
/// delay, a bucket's waiter; a timeout's source is not a wait a call rests in). The tell comes on the thread that arms
/// it, which may not be the driver's (a bucket's waiter ends on another).
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
        if (state is not CancellationTokenSource)
        {
            Interlocked.Increment(ref _armed);
            OnArmed?.Invoke();
        }

        return timer;
    }
}
