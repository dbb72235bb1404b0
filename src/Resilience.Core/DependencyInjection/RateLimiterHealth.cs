using System.Threading.RateLimiting;

namespace Resilience.DependencyInjection;

/// <summary>A rate or concurrency limiter in the health view.</summary>
public sealed class RateLimiterHealth
{
    private RateLimiterHealth(string name, long availablePermits, long queuedPermits, long rejections)
    {
        Name = name;
        AvailablePermits = availablePermits;
        QueuedPermits = queuedPermits;
        Rejections = rejections;
    }

    /// <summary>Gets the limiter's name.</summary>
    public string Name { get; }

    /// <summary>Gets how many permits it can grant now.</summary>
    public long AvailablePermits { get; }

    /// <summary>Gets how many permits are waited for in its queue now.</summary>
    public long QueuedPermits { get; }

    /// <summary>Gets how many requests for permits it refused since it was created.</summary>
    public long Rejections { get; }

    /// <summary>
    /// Reads a limiter; none for one disposed while a pipeline's code still holds it (the BCL's limiters then throw on
    /// reading their statistics): its exception would take the whole report, every other instance with it, as the
    /// gauges skip it for the same reason.
    /// </summary>
    internal static RateLimiterHealth? Of(string name, RateLimiter limiter)
    {
        RateLimiterStatistics? statistics;
        try
        {
            statistics = limiter.GetStatistics();
        }
        catch (ObjectDisposedException)
        {
            return null;
        }

        return statistics is not null
            ? new(name, statistics.CurrentAvailablePermits, statistics.CurrentQueuedCount, statistics.TotalFailedLeases)
            : new(name, 0, 0, 0);
    }
}
