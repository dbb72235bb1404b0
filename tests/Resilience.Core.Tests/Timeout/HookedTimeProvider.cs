using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Timeout;

/// <summary>
/// A fake clock that runs an action once, on the next timestamp read (before it, or after the reading is taken): a way to
/// land between two steps of a hook.
/// </summary>
internal sealed class HookedTimeProvider(FakeTimeProvider time) : TimeProvider
{
    private Action? _onNextRead;
    private Action? _afterNextRead;

    public override long TimestampFrequency => time.TimestampFrequency;

    public void OnNextRead(Action action) => _onNextRead = action;

    public void AfterNextRead(Action action) => _afterNextRead = action;

    public override long GetTimestamp()
    {
        Interlocked.Exchange(ref _onNextRead, null)?.Invoke();
        var timestamp = time.GetTimestamp();
        Interlocked.Exchange(ref _afterNextRead, null)?.Invoke();
        return timestamp;
    }

    public override DateTimeOffset GetUtcNow() => time.GetUtcNow();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        time.CreateTimer(callback, state, dueTime, period);
}
