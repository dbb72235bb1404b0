using Resilience.Configuration;

namespace Resilience.DependencyInjection;

/// <summary>The state of a container's resilience pipelines and instances at one moment, for health checks and dashboards.</summary>
public sealed class ResilienceHealthReport
{
    private readonly bool _configurationRejected;

    internal ResilienceHealthReport(
        IReadOnlyList<PipelineHealth> pipelines,
        IReadOnlyList<CircuitBreakerHealth> circuitBreakers,
        IReadOnlyList<RateLimiterHealth> rateLimiters,
        IReadOnlyList<PartitionedRateLimiterHealth> partitionedRateLimiters,
        IReadOnlyList<RetryBudgetHealth> retryBudgets,
        ResilienceReloadResult? lastReload,
        bool configurationRejected)
    {
        Pipelines = pipelines;
        CircuitBreakers = circuitBreakers;
        RateLimiters = rateLimiters;
        PartitionedRateLimiters = partitionedRateLimiters;
        RetryBudgets = retryBudgets;
        LastReload = lastReload;
        _configurationRejected = configurationRejected;
    }

    /// <summary>Gets every pipeline, by name.</summary>
    public IReadOnlyList<PipelineHealth> Pipelines { get; }

    /// <summary>
    /// Gets every circuit breaker (shared, bound or created by a pipeline's code), by name; the breakers of a pipeline's
    /// keyed instances under the pipeline's breaker name, each with its <see cref="CircuitBreakerHealth.InstanceKey"/>.
    /// </summary>
    public IReadOnlyList<CircuitBreakerHealth> CircuitBreakers { get; }

    /// <summary>Gets every rate and concurrency limiter, by name; a limiter a pipeline's code disposed is left out, as the gauges leave it out.</summary>
    public IReadOnlyList<RateLimiterHealth> RateLimiters { get; }

    /// <summary>
    /// Gets every partitioned limiter a pipeline goes through, by name, with its partitions counted together; one a
    /// pipeline's code disposed is left out.
    /// </summary>
    public IReadOnlyList<PartitionedRateLimiterHealth> PartitionedRateLimiters { get; }

    /// <summary>Gets every retry budget, by name.</summary>
    public IReadOnlyList<RetryBudgetHealth> RetryBudgets { get; }

    /// <summary>Gets the outcome of the last change of settings, if any.</summary>
    public ResilienceReloadResult? LastReload { get; }

    /// <summary>
    /// Gets whether no breaker is isolated or open with its break still running, and the configuration, as last read, is
    /// in force (its last reading was not rejected). Options pushed by code and rejected leave it as it was: they changed
    /// nothing, and their caller has the result. An open breaker whose break has passed lets the next call through as a
    /// probe: counted unhealthy, an instance taken out of service for it would get no call to close it.
    /// </summary>
    public bool IsHealthy =>
        CircuitBreakers.All(breaker => breaker.State is CircuitState.Closed or CircuitState.HalfOpen || breaker.RetryAfter == TimeSpan.Zero)
        && !_configurationRejected;
}
