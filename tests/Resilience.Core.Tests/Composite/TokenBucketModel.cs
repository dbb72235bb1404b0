namespace Resilience.Tests.Composite;

/// <summary>
/// The token bucket's documented rules as plain arithmetic, in the bucket's unit (1/256 of a tick since it was made):
/// a permit moves the time the bucket is full again by one interval, if that stays within the burst of now; a refusal
/// says how long until it would; a live change keeps the permits held (capped at the new burst) and those owed to
/// waiters. A bucket that may wait reserves a permit up to its maximum wait ahead: the waiter is a lease when it is
/// served, and one that leaves before gives its slot back if nobody reserved after it and the options did not change
/// since. Leases and refusals are counted one by one. Disposal fails every waiter (a failed lease, its slot given back
/// as a cancelled one's, the latest first); afterwards a permit that is there is still taken, and one that would be
/// waited for is refused at once (a failed lease, no retry-after: nothing will serve the wait), reserving nothing.
/// </summary>
internal sealed class TokenBucketModel(TokenBucketLimiterOptions options, long originTicks)
{
    private const long Scale = 256;

    private long _arrival;

    // Options changes made: a slot reserved before one is not given back.
    private long _changes;

    public long Interval { get; private set; } = IntervalOf(options);

    public long Capacity => Burst * Interval;

    public int Burst { get; private set; } = options.Burst;

    public long Leases { get; private set; }

    public long Failures { get; private set; }

    /// <summary>Gets the maximum wait in force.</summary>
    public TimeSpan MaxWait { get; private set; } = options.MaxWait;

    /// <summary>Gets the permits waiters wait for.</summary>
    public long Waiting { get; private set; }

    /// <summary>Gets whether the bucket is disposed: it serves no waiter any more.</summary>
    public bool Disposed { get; private set; }

    /// <summary>Takes one permit at <paramref name="nowTicks"/>; a refusal returns the time until one is there.</summary>
    public (bool Granted, TimeSpan RetryAfter) Take(long nowTicks)
    {
        var now = Scaled(nowTicks);
        var next = Math.Max(_arrival, now) + Interval;
        var excess = next - now - Capacity;
        if (excess > 0)
        {
            Failures++;
            return (false, TimeSpan.FromTicks((excess + Scale - 1) / Scale));
        }

        _arrival = next;
        Leases++;
        return (true, TimeSpan.Zero);
    }

    /// <summary>
    /// Takes one permit at <paramref name="nowTicks"/>, or reserves it up to the maximum wait ahead: the wait (in ticks of
    /// the clock, rounded up; zero when granted at once) and the slot to give back; a refusal (past the maximum wait) returns the
    /// time until the permit would be there, and a disposed bucket's refusal of a wait none.
    /// </summary>
    public (bool Granted, long WaitTicks, TimeSpan? RetryAfter, TokenBucketModelSlot Slot) Reserve(long nowTicks)
    {
        var now = Scaled(nowTicks);
        var next = Math.Max(_arrival, now) + Interval;
        var excess = next - now - Capacity;
        if (excess > MaxWait.Ticks * Scale)
        {
            Failures++;
            return (false, 0, TimeSpan.FromTicks((excess + Scale - 1) / Scale), default);
        }

        if (excess > 0 && Disposed)
        {
            Failures++;
            return (false, 0, null, default);
        }

        _arrival = next;
        if (excess <= 0)
        {
            Leases++;
            return (true, 0, TimeSpan.Zero, default);
        }

        Waiting++;
        return (true, (excess + Scale - 1) / Scale, TimeSpan.Zero, new TokenBucketModelSlot(next, Interval, _changes));
    }

    /// <summary>A waiter's slot came: it is a lease now.</summary>
    public void Serve()
    {
        Waiting--;
        Leases++;
    }

    /// <summary>A waiter left before its slot (cancelled): no lease, no failure; its slot comes back if it can.</summary>
    public void GiveBack(TokenBucketModelSlot slot)
    {
        Waiting--;
        if (slot.Changes == _changes && slot.Arrival == _arrival)
        {
            _arrival -= slot.Cost;
        }
    }

    /// <summary>
    /// Disposes the bucket: each waiter's slot (<paramref name="latestFirst"/>: the latest reserved first) is given back as
    /// a cancelled one's, and each is a failed lease.
    /// </summary>
    public void Dispose(IEnumerable<TokenBucketModelSlot> latestFirst)
    {
        Disposed = true;
        foreach (var slot in latestFirst)
        {
            GiveBack(slot);
            Failures++;
        }
    }

    /// <summary>
    /// Whether one more permit asked for at <paramref name="nowTicks"/>, once the slots of <paramref name="latestFirst"/>
    /// are given back, would be waited for: not there, not past the maximum wait.
    /// </summary>
    public bool WouldWaitOnceGivenBack(IEnumerable<TokenBucketModelSlot> latestFirst, long nowTicks)
    {
        var arrival = _arrival;
        foreach (var slot in latestFirst)
        {
            if (slot.Changes == _changes && slot.Arrival == arrival)
            {
                arrival -= slot.Cost;
            }
        }

        var now = Scaled(nowTicks);
        var excess = Math.Max(arrival, now) + Interval - now - Capacity;
        return excess > 0 && excess <= MaxWait.Ticks * Scale;
    }

    public long Available(long nowTicks)
    {
        var now = Scaled(nowTicks);
        return Math.Max(0, (Capacity - (Math.Max(_arrival, now) - now)) / Interval);
    }

    public void Update(TokenBucketLimiterOptions value, long nowTicks)
    {
        var now = Scaled(nowTicks);
        var available = Math.Min(Capacity - (Math.Max(_arrival, now) - now), Capacity);
        var interval = IntervalOf(value);
        var capacity = value.Burst * interval;
        var kept = Math.Min((long)((double)available / Interval * interval), capacity);
        _arrival = now + capacity - kept;
        Interval = interval;
        Burst = value.Burst;
        MaxWait = value.MaxWait;
        _changes++;
    }

    private static long IntervalOf(TokenBucketLimiterOptions options) =>
        Math.Max(1, (long)Math.Ceiling(Scale * TimeSpan.TicksPerSecond / options.PermitsPerSecond));

    private long Scaled(long nowTicks) => (nowTicks - originTicks) * Scale;
}
