using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Composite;

/// <summary>
/// A <see cref="FakeTimeProvider"/>'s time with timers the driver fires one at a time. <c>FakeTimeProvider.Advance</c>
/// fires every timer due within the advance in one go and moves on while the continuations they released run on the
/// thread pool, so calls in flight together would read a clock that is still moving and race each other. Here the
/// driver fires the earliest armed timer (ties: the one armed first), on its own thread, with the clock at its due time,
/// and waits for the call it moved to come to rest before the next. <see cref="Changed"/> is released whenever a timer
/// is armed, fired or disposed. While the driver holds the clock (<see cref="HoldClock"/>), any other thread that reads
/// it waits (bounded) until the driver lets go: every pass through the strategies reads the clock before it reaches a
/// limiter, so calls released together by the driver (a limiter disposed under several waiters) go on only once the
/// driver's own step is over.
/// </summary>
internal sealed class SteppedTimeProvider(FakeTimeProvider time) : TimeProvider
{
    private readonly Lock _gate = new();
    private readonly List<SteppedTimer> _armed = [];
    private readonly ManualResetEventSlim _clockFree = new(initialState: true);
    private int _holder;
    private long _sequence;

    public FakeTimeProvider Time { get; } = time;

    public SemaphoreSlim Changed { get; } = new(0);

    public override long TimestampFrequency => Time.TimestampFrequency;

    public override long GetTimestamp()
    {
        if (!_clockFree.IsSet && Environment.CurrentManagedThreadId != Volatile.Read(ref _holder))
        {
            // Bounded: a driver that failed between holding and letting go must not hang the calls.
            _clockFree.Wait(TimeSpan.FromSeconds(10));
        }

        return Time.GetTimestamp();
    }

    public override DateTimeOffset GetUtcNow() => Time.GetUtcNow();

    public override TimeZoneInfo LocalTimeZone => Time.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new SteppedTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Makes every other thread that reads the clock wait until <see cref="LetClockGo"/>.</summary>
    public void HoldClock()
    {
        Volatile.Write(ref _holder, Environment.CurrentManagedThreadId);
        _clockFree.Reset();
    }

    /// <summary>Lets every thread read the clock again.</summary>
    public void LetClockGo() => _clockFree.Set();

    /// <summary>Gets how many times a timer was armed (created or changed to a due time): it tells one timer armed from another due alike.</summary>
    public long Armings
    {
        get
        {
            lock (_gate)
            {
                return _sequence;
            }
        }
    }

    /// <summary>The due times (in timestamps of the clock) of the timers armed, in the order they will fire.</summary>
    public List<long> DueTimes()
    {
        lock (_gate)
        {
            return [.. _armed.OrderBy(t => t.Due).ThenBy(t => t.Sequence).Select(t => t.Due)];
        }
    }

    /// <summary>
    /// Fires the earliest timer due at or before <paramref name="until"/> (a timestamp), with the clock moved to its due
    /// time; returns its due time, or <see langword="null"/> when none is due.
    /// </summary>
    public long? FireNext(long until)
    {
        SteppedTimer? next;
        lock (_gate)
        {
            next = _armed.Where(t => t.Due <= until).OrderBy(t => t.Due).ThenBy(t => t.Sequence).FirstOrDefault();
            if (next is null)
            {
                return null;
            }

            _armed.Remove(next);
        }

        MoveTo(next.Due);
        Changed.Release();
        next.Fire();
        return next.Due;
    }

    /// <summary>Moves the clock forward to <paramref name="timestamp"/> (no timer may be due before it).</summary>
    public void MoveTo(long timestamp)
    {
        var ahead = timestamp - Time.GetTimestamp();
        if (ahead > 0)
        {
            Time.Advance(TimeSpan.FromTicks(ahead * TimeSpan.TicksPerSecond / Time.TimestampFrequency));
        }
    }

    /// <summary>Arms <paramref name="timer"/> for <paramref name="dueTime"/> from now (infinite: disarms it).</summary>
    internal void Arm(SteppedTimer timer, TimeSpan dueTime)
    {
        lock (_gate)
        {
            _armed.Remove(timer);
            if (dueTime != global::System.Threading.Timeout.InfiniteTimeSpan)
            {
                timer.Due = Time.GetTimestamp() + (dueTime.Ticks * Time.TimestampFrequency / TimeSpan.TicksPerSecond);
                timer.Sequence = ++_sequence;
                _armed.Add(timer);
            }
        }

        Changed.Release();
    }
}
