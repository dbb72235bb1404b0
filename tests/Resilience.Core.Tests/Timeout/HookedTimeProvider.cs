using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Timeout;

/// <summary>A fake clock that runs an action once, on the next timestamp read: a way to land between two steps of a hook.</summary>
internal sealed class HookedTimeProvider(FakeTimeProvider time) : TimeProvider
{
    private Action? _onNextRead;

    public override long TimestampFrequency => time.TimestampFrequency;

    public void OnNextRead(Action action) => _onNextRead = action;

    public override long GetTimestamp()
    {
        Interlocked.Exchange(ref _onNextRead, null)?.Invoke();
        return time.GetTimestamp();
    }

    public override DateTimeOffset GetUtcNow() => time.GetUtcNow();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        time.CreateTimer(callback, state, dueTime, period);
}
