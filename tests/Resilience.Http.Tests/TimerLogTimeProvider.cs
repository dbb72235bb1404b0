using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Http.Tests;

/// <summary>
/// A fake clock that logs the due time of every timer created on it, in order: a test waits until a strategy has armed
/// the timer it means to fire (a retry's delay, a timeout) before advancing the clock past it.
/// </summary>
internal sealed class TimerLogTimeProvider() : FakeTimeProvider(DateTimeOffset.UnixEpoch)
{
    private readonly Channel<TimeSpan> _timers = Channel.CreateUnbounded<TimeSpan>();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        _timers.Writer.TryWrite(dueTime);
        return timer;
    }

    /// <summary>Waits for the next timer created whose due time <paramref name="match"/> accepts, skipping the others.</summary>
    /// <returns>Its due time.</returns>
    public async Task<TimeSpan> NextTimerAsync(Func<TimeSpan, bool> match)
    {
        // Bounded, so that a strategy that never arms the timer fails the test instead of hanging it.
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var due = await _timers.Reader.ReadAsync(bound.Token);
            if (match(due))
            {
                return due;
            }
        }
    }
}
