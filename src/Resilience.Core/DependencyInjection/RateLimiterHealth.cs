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

    internal static RateLimiterHealth Of(string name, RateLimiter limiter) =>
        limiter.GetStatistics() is { } statistics
            ? new(name, statistics.CurrentAvailablePermits, statistics.CurrentQueuedCount, statistics.TotalFailedLeases)
            : new(name, 0, 0, 0);
}
