namespace Resilience.Http.Tests.Middleware;

/// <summary>
/// A token bucket written as the textbook has it, in ticks: credit (permits times their interval) grows with elapsed
/// time up to the burst, a permit costs one interval, and a refused request waits until the credit covers it.
/// </summary>
internal sealed class BucketModel(TimeSpan interval, int burst, DateTimeOffset createdAt)
{
    private readonly long _interval = interval.Ticks;
    private readonly long _capacity = burst * interval.Ticks;
    private long _credit = burst * interval.Ticks;
    private DateTimeOffset _last = createdAt;

    public int Granted { get; private set; }

    public int Refused { get; private set; }

    /// <summary>Takes one permit at <paramref name="now"/>; when refused, the exact wait until one is there.</summary>
    public bool TryTake(DateTimeOffset now, out TimeSpan retryAfter)
    {
        _credit = Math.Min(_capacity, _credit + (now - _last).Ticks);
        _last = now;
        if (_credit >= _interval)
        {
            _credit -= _interval;
            Granted++;
            retryAfter = TimeSpan.Zero;
            return true;
        }

        Refused++;
        retryAfter = TimeSpan.FromTicks(_interval - _credit);
        return false;
    }
}
