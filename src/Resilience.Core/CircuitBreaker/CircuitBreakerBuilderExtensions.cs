namespace Resilience;

/// <summary>Adds circuit breakers to pipeline builders.</summary>
public static class CircuitBreakerBuilderExtensions
{
    /// <summary>Adds a new circuit breaker; exceptions other than caller cancellation count as failures.</summary>
    /// <typeparam name="TBuilder">The builder type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="options">The breaker's options; validated and copied.</param>
    /// <returns>The builder.</returns>
    public static TBuilder AddCircuitBreaker<TBuilder>(this TBuilder builder, CircuitBreakerOptions options)
        where TBuilder : ResiliencePipelineBuilderBase =>
        builder.AddCircuitBreaker(new CircuitBreaker(options));

    /// <summary>Adds a shared circuit breaker (one per dependency, whatever the pipeline); exceptions other than caller cancellation count as failures.</summary>
    /// <typeparam name="TBuilder">The builder type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="breaker">The breaker.</param>
    /// <returns>The builder.</returns>
    public static TBuilder AddCircuitBreaker<TBuilder>(this TBuilder builder, CircuitBreaker breaker)
        where TBuilder : ResiliencePipelineBuilderBase =>
        builder.AddStrategy(new CircuitBreakerStrategy(breaker));

    /// <summary>Adds a circuit breaker whose failures are the exceptions <paramref name="shouldHandle"/> accepts.</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="breaker">The breaker.</param>
    /// <param name="shouldHandle">Which exceptions are failures.</param>
    /// <returns>The builder.</returns>
    public static ResiliencePipelineBuilder AddCircuitBreaker(this ResiliencePipelineBuilder builder, CircuitBreaker breaker, Func<Exception, bool> shouldHandle)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddStrategy(new CircuitBreakerStrategy(breaker), shouldHandle);
    }

    /// <summary>Adds a circuit breaker whose failures are the outcomes (results or exceptions) <paramref name="shouldHandle"/> accepts.</summary>
    /// <typeparam name="T">The pipeline's result type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="breaker">The breaker.</param>
    /// <param name="shouldHandle">Which outcomes are failures.</param>
    /// <returns>The builder.</returns>
    public static ResiliencePipelineBuilder<T> AddCircuitBreaker<T>(this ResiliencePipelineBuilder<T> builder, CircuitBreaker breaker, Func<Outcome<T>, bool> shouldHandle)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddStrategy(new CircuitBreakerStrategy(breaker), shouldHandle);
    }
}
