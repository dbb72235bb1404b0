using System.Threading.RateLimiting;

namespace Resilience;

/// <summary>Adds rate and concurrency limiters to pipeline builders.</summary>
public static class RateLimiterBuilderExtensions
{
    /// <summary>Adds any <see cref="RateLimiter"/> (ours or the BCL's): one permit per call, released when the call ends.</summary>
    /// <typeparam name="TBuilder">The builder type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="limiter">The limiter; it may serve several pipelines.</param>
    /// <param name="waitForPermit">For a limiter of another type, whether to wait in its queue when no permit is free.</param>
    /// <returns>The builder.</returns>
    public static TBuilder AddRateLimiter<TBuilder>(this TBuilder builder, RateLimiter limiter, bool waitForPermit = false)
        where TBuilder : ResiliencePipelineBuilderBase =>
        builder.AddStrategy(new RateLimiterStrategy(limiter, waitForPermit));

    /// <summary>Adds a new lock-free token bucket.</summary>
    /// <typeparam name="TBuilder">The builder type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="options">The bucket's options.</param>
    /// <returns>The builder.</returns>
    public static TBuilder AddRateLimiter<TBuilder>(this TBuilder builder, TokenBucketLimiterOptions options)
        where TBuilder : ResiliencePipelineBuilderBase =>
        builder.AddRateLimiter(new TokenBucketLimiter(options));

    /// <summary>Adds a new concurrency limiter.</summary>
    /// <typeparam name="TBuilder">The builder type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="options">The limiter's options.</param>
    /// <returns>The builder.</returns>
    public static TBuilder AddConcurrencyLimiter<TBuilder>(this TBuilder builder, InFlightLimiterOptions options)
        where TBuilder : ResiliencePipelineBuilderBase =>
        builder.AddRateLimiter(new InFlightLimiter(options));

    /// <summary>Adds a partitioned limiter: <paramref name="keySelector"/> names each call's partition.</summary>
    /// <typeparam name="TBuilder">The builder type.</typeparam>
    /// <typeparam name="TKey">The partition key.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="limiter">The partitioned limiter, for example a <see cref="BoundedPartitionedLimiter{TKey}"/>.</param>
    /// <param name="keySelector">Returns the partition key of the current call.</param>
    /// <param name="waitForPermit">Whether to wait in the partition's queue when no permit is free.</param>
    /// <returns>The builder.</returns>
    public static TBuilder AddRateLimiter<TBuilder, TKey>(this TBuilder builder, PartitionedRateLimiter<TKey> limiter, Func<TKey> keySelector, bool waitForPermit = false)
        where TBuilder : ResiliencePipelineBuilderBase =>
        builder.AddStrategy(new PartitionedRateLimiterStrategy<TKey>(limiter, keySelector, waitForPermit));
}
