namespace Resilience.Tests.Composite;

/// <summary>A one-shot timer of a <see cref="SteppedTimeProvider"/>: fired by the driver, never by the clock itself.</summary>
internal sealed class SteppedTimer(SteppedTimeProvider provider, TimerCallback callback, object? state) : ITimer
{
    private int _disposed;

    public long Due { get; set; }

    public long Sequence { get; set; }

    public bool Change(TimeSpan dueTime, TimeSpan period)
    {
        // Periodic timers are not needed by the strategies under test: a period would be a test defect.
        if (period != global::System.Threading.Timeout.InfiniteTimeSpan && period != TimeSpan.Zero)
        {
            throw new NotSupportedException("a stepped timer fires once");
        }

        if (Volatile.Read(ref _disposed) != 0)
        {
            return false;
        }

        provider.Arm(this, dueTime);
        return true;
    }

    public void Fire() => callback(state);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            provider.Arm(this, global::System.Threading.Timeout.InfiniteTimeSpan);
        }
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}
