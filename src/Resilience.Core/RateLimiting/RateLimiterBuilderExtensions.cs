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
    /// <param name="name">The strategy's name in telemetry and health (two limiters in one pipeline are told apart by it); the limiter's type name by default.</param>
    /// <returns>The builder.</returns>
    public static TBuilder AddRateLimiter<TBuilder>(this TBuilder builder, RateLimiter limiter, bool waitForPermit = false, string? name = null)
        where TBuilder : ResiliencePipelineBuilderBase =>
        builder.AddStrategy(new RateLimiterStrategy(limiter, waitForPermit, name));

    /// <summary>Adds a new lock-free token bucket.</summary>
    /// <typeparam name="TBuilder">The builder type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="options">The bucket's options; without a <see cref="TokenBucketLimiterOptions.TimeProvider"/>, the bucket takes the pipeline's clock.</param>
    /// <param name="name">The strategy's name in telemetry and health; <c>TokenBucketLimiter</c> by default.</param>
    /// <returns>The builder.</returns>
    public static TBuilder AddRateLimiter<TBuilder>(this TBuilder builder, TokenBucketLimiterOptions options, string? name = null)
        where TBuilder : ResiliencePipelineBuilderBase
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddRateLimiter(new TokenBucketLimiter(builder.OnPipelineClock(options)), name: name);
    }

    /// <summary>Adds a new concurrency limiter.</summary>
    /// <typeparam name="TBuilder">The builder type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="options">The limiter's options; without a <see cref="InFlightLimiterOptions.TimeProvider"/>, the limiter takes the pipeline's clock.</param>
    /// <param name="name">The strategy's name in telemetry and health; <c>InFlightLimiter</c> by default.</param>
    /// <returns>The builder.</returns>
    public static TBuilder AddConcurrencyLimiter<TBuilder>(this TBuilder builder, InFlightLimiterOptions options, string? name = null)
        where TBuilder : ResiliencePipelineBuilderBase
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddRateLimiter(new InFlightLimiter(builder.OnPipelineClock(options)), name: name);
    }

    /// <summary>Adds a partitioned limiter: <paramref name="keySelector"/> names each call's partition.</summary>
    /// <typeparam name="TBuilder">The builder type.</typeparam>
    /// <typeparam name="TKey">The partition key.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="limiter">The partitioned limiter, for example a <see cref="BoundedPartitionedLimiter{TKey}"/>.</param>
    /// <param name="keySelector">Returns the partition key of the current call.</param>
    /// <param name="waitForPermit">Whether to wait in the partition's queue when no permit is free.</param>
    /// <param name="name">The strategy's name in telemetry and health; <c>PartitionedRateLimiter</c> by default.</param>
    /// <returns>The builder.</returns>
    public static TBuilder AddRateLimiter<TBuilder, TKey>(this TBuilder builder, PartitionedRateLimiter<TKey> limiter, Func<TKey> keySelector, bool waitForPermit = false, string? name = null)
        where TBuilder : ResiliencePipelineBuilderBase =>
        builder.AddStrategy(new PartitionedRateLimiterStrategy<TKey>(limiter, keySelector, waitForPermit, name));
}
