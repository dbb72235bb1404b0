namespace Resilience;

/// <summary>A partitioned limiter's strategy, whatever its key type: how the health view and telemetry find its limiter.</summary>
internal interface IPartitionedLimiterStrategy
{
    /// <summary>Gets the partitioned limiter (a <see cref="System.Threading.RateLimiting.PartitionedRateLimiter{TResource}"/>).</summary>
    IDisposable PartitionedLimiter { get; }
}
