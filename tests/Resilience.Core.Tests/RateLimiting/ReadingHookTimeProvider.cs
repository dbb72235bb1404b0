namespace Resilience.Tests.RateLimiting;

/// <summary>
/// Another provider's time, with a hook run once (on the reading thread) at the next reading of the timestamp: a test
/// stops a call where it reads the clock, to let another call act there.
/// </summary>
internal sealed class ReadingHookTimeProvider(TimeProvider time) : TimeProvider
{
    private Action? _atNextReading;

    /// <summary>Sets the hook run at the next reading only (readings the hook makes itself run none).</summary>
    public Action? AtNextReading
    {
        set => Volatile.Write(ref _atNextReading, value);
    }

    public override long TimestampFrequency => time.TimestampFrequency;

    public override long GetTimestamp()
    {
        Interlocked.Exchange(ref _atNextReading, null)?.Invoke();
        return time.GetTimestamp();
    }

    public override DateTimeOffset GetUtcNow() => time.GetUtcNow();

    public override TimeZoneInfo LocalTimeZone => time.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        time.CreateTimer(callback, state, dueTime, period);
}
