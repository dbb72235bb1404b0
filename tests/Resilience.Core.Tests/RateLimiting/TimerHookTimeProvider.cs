namespace Resilience.Tests.RateLimiting;

/// <summary>
/// Another provider's time and timers, with a hook run (on the creating thread) before each timer is created: a test
/// stops a call at the point where it arms a timer, to let another call act there.
/// </summary>
internal sealed class TimerHookTimeProvider(TimeProvider time) : TimeProvider
{
    private Action? _beforeTimer;

    /// <summary>Gets or sets the hook run before the next timers are created; <see langword="null"/> for none.</summary>
    public Action? BeforeTimer
    {
        get => Volatile.Read(ref _beforeTimer);
        set => Volatile.Write(ref _beforeTimer, value);
    }

    public override long TimestampFrequency => time.TimestampFrequency;

    public override long GetTimestamp() => time.GetTimestamp();

    public override DateTimeOffset GetUtcNow() => time.GetUtcNow();

    public override TimeZoneInfo LocalTimeZone => time.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        BeforeTimer?.Invoke();
        return time.CreateTimer(callback, state, dueTime, period);
    }
}
