using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Timeout;

/// <summary>
/// A fake clock whose timestamps move in steps of <c>resolution</c> while its timers fire on time: the system clock as
/// the library reads it for decisions (the coarse tick count) beside the precise timers of cancellation sources.
/// </summary>
internal sealed class CoarseTimeProvider(FakeTimeProvider time, TimeSpan resolution) : TimeProvider
{
    public override long TimestampFrequency => time.TimestampFrequency;

    public override long GetTimestamp()
    {
        var step = (long)(resolution.TotalSeconds * time.TimestampFrequency);
        var now = time.GetTimestamp();
        return now - (now % step);
    }

    public override DateTimeOffset GetUtcNow() => time.GetUtcNow();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        time.CreateTimer(callback, state, dueTime, period);
}
