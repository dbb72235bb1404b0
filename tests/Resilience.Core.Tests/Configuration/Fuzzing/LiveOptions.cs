using Resilience.DependencyInjection;

namespace Resilience.Tests.Configuration.Fuzzing;

/// <summary>Finds the options an instance built from a <see cref="ConfigurationTree"/> holds, by the owner its options name.</summary>
internal static class LiveOptions
{
    /// <summary>Gets a pipeline's strategies without the telemetry strategy the provider puts outermost.</summary>
    public static IReadOnlyList<ResilienceStrategy> StrategiesOf(ResiliencePipeline pipeline) =>
        [.. pipeline.Strategies.Where(strategy => strategy.GetType().Namespace != "Resilience.Telemetry")];

    /// <summary>Gets the instance behind a strategy: a breaker, a limiter, or the strategy itself.</summary>
    public static object InstanceOf(ResilienceStrategy strategy) => strategy switch
    {
        CircuitBreakerStrategy breaker => breaker.Breaker,
        RateLimiterStrategy limiter => limiter.Limiter,
        _ => strategy,
    };

    public static object Shared(ResiliencePipelineProvider provider, string kind, string name) => kind switch
    {
        "CircuitBreaker" => provider.GetCircuitBreaker(name),
        "TokenBucket" => provider.GetTokenBucket(name),
        "ConcurrencyLimiter" => provider.GetConcurrencyLimiter(name),
        _ => provider.GetRetryBudget(name),
    };

    /// <summary>Gets the options of an instance; <see langword="null"/> for a retry budget, which does not show them.</summary>
    public static object? Of(object instance) => instance switch
    {
        Resilience.CircuitBreaker breaker => breaker.Options,
        TokenBucketLimiter bucket => bucket.Options,
        InFlightLimiter limiter => limiter.Options,
        RetryStrategy retry => retry.Options,
        TimeoutStrategy timeout => new TimeoutOptions { Timeout = timeout.Timeout },
        _ => null,
    };

    /// <summary>Gets whether an instance is of the kind configuration names.</summary>
    public static bool IsKind(object instance, string kind) => kind switch
    {
        "CircuitBreaker" => instance is Resilience.CircuitBreaker,
        "TokenBucket" => instance is TokenBucketLimiter,
        "ConcurrencyLimiter" => instance is InFlightLimiter,
        "Timeout" => instance is TimeoutStrategy,
        "Retry" => instance is RetryStrategy,
        _ => instance is RetryBudget,
    };
}
