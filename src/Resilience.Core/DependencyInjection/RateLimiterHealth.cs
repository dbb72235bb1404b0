using System.Threading.RateLimiting;

namespace Resilience.DependencyInjection;

/// <summary>A rate or concurrency limiter in the health view.</summary>
public sealed class RateLimiterHealth
{
    private RateLimiterHealth(string name, long availablePermits, long queuedPermits, long rejections, string? instanceKey)
    {
        Name = name;
        InstanceKey = instanceKey;
        AvailablePermits = availablePermits;
        QueuedPermits = queuedPermits;
        Rejections = rejections;
    }

    /// <summary>Gets the limiter's name.</summary>
    public string Name { get; }

    /// <summary>
    /// Gets the key of the pipeline instance the limiter belongs to (one served by
    /// <see cref="ResiliencePipelineProvider.GetPipeline(string, string)"/>), or <see langword="null"/> for a shared
    /// limiter or one of a pipeline's single instance. Each instance's limiter is listed under the name of the pipeline's.
    /// </summary>
    public string? InstanceKey { get; }

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
    internal static RateLimiterHealth? Of(string name, RateLimiter limiter, string? instanceKey = null)
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
            ? new(name, statistics.CurrentAvailablePermits, statistics.CurrentQueuedCount, statistics.TotalFailedLeases, instanceKey)
            : new(name, 0, 0, 0, instanceKey);
    }
}
