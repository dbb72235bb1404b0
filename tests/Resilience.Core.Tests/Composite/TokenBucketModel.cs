namespace Resilience.Tests.Composite;

/// <summary>
/// The token bucket's documented rules as plain arithmetic, in the bucket's unit (1/256 of a tick since it was made):
/// a permit moves the time the bucket is full again by one interval, if that stays within the burst of now; a refusal
/// says how long until it would; a live change keeps the permits held (capped at the new burst). Leases and refusals
/// are counted one by one.
/// </summary>
internal sealed class TokenBucketModel(TokenBucketLimiterOptions options, long originTicks)
{
    private const long Scale = 256;

    private long _arrival;

    public long Interval { get; private set; } = IntervalOf(options);

    public long Capacity => Burst * Interval;

    public int Burst { get; private set; } = options.Burst;

    public long Leases { get; private set; }

    public long Failures { get; private set; }

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
    /// Takes one permit at <paramref name="nowTicks"/>, waiting up to <paramref name="maxWait"/> for it (a bucket with a
    /// maximum wait): a permit granted says how long it waits (none when one is there); a refusal, how long until one is.
    /// </summary>
    public (bool Granted, TimeSpan Wait, TimeSpan RetryAfter) Reserve(long nowTicks, TimeSpan maxWait)
    {
        var now = Scaled(nowTicks);
        var next = Math.Max(_arrival, now) + Interval;
        var excess = next - now - Capacity;
        var ticks = TimeSpan.FromTicks((Math.Max(0, excess) + Scale - 1) / Scale);
        if (excess > maxWait.Ticks * Scale)
        {
            Failures++;
            return (false, TimeSpan.Zero, ticks);
        }

        _arrival = next;
        Leases++;
        return (true, ticks, TimeSpan.Zero);
    }

    /// <summary>The waiter of the last permit reserved gave up (its caller cancelled): nobody reserved after it, so its slot comes back.</summary>
    public void GiveBack()
    {
        _arrival -= Interval;
        Leases--;
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
    }

    private static long IntervalOf(TokenBucketLimiterOptions options) =>
        Math.Max(1, (long)Math.Ceiling(Scale * TimeSpan.TicksPerSecond / options.PermitsPerSecond));

    private long Scaled(long nowTicks) => (nowTicks - originTicks) * Scale;
}
