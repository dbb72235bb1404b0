namespace Resilience.Tests.Timeout;

/// <summary>
/// A clock that counts the timers created on it and how many are armed (due, not yet fired, changed to infinite or
/// disposed): the cancellation sources a timeout creates and the timers it leaves running.
/// </summary>
internal sealed class CountingTimeProvider(TimeProvider time) : TimeProvider
{
    private int _created;
    private int _armed;

    public int Created => Volatile.Read(ref _created);

    public int Armed => Volatile.Read(ref _armed);

    public override long TimestampFrequency => time.TimestampFrequency;

    public override long GetTimestamp() => time.GetTimestamp();

    public override DateTimeOffset GetUtcNow() => time.GetUtcNow();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        Interlocked.Increment(ref _created);
        var counted = new CountedTimer(this, callback, state);
        counted.Arm(dueTime);
        counted.Inner = time.CreateTimer(static s => ((CountedTimer)s!).Fire(), counted, dueTime, period);
        return counted;
    }

    private sealed class CountedTimer(CountingTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        private int _armed;

        public ITimer? Inner { get; set; }

        public void Arm(TimeSpan dueTime) => SetArmed(dueTime != global::System.Threading.Timeout.InfiniteTimeSpan);

        public void Fire()
        {
            // One-shot timers only (cancellation sources arm no period): a timer that fired is no longer armed.
            SetArmed(false);
            callback(state);
        }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            Arm(dueTime);
            return Inner!.Change(dueTime, period);
        }

        public void Dispose()
        {
            SetArmed(false);
            Inner!.Dispose();
        }

        public ValueTask DisposeAsync()
        {
            SetArmed(false);
            return Inner!.DisposeAsync();
        }

        private void SetArmed(bool armed)
        {
            var was = Interlocked.Exchange(ref _armed, armed ? 1 : 0);
            Interlocked.Add(ref owner._armed, (armed ? 1 : 0) - was);
        }
    }
}
