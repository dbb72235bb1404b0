
namespace Resilience;

/// <summary>Adds circuit breakers to pipeline builders.</summary>
public static class CircuitBreakerBuilderExtensions
{
    /// <summary>Adds a new circuit breaker; exceptions other than caller cancellation count as failures.</summary>
    /// <typeparam name="TBuilder">The builder type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="options">The breaker's options; validated and copied. Without a <see cref="CircuitBreakerOptions.TimeProvider"/>, the breaker uses the builder's.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range.</exception>
    public static TBuilder AddCircuitBreaker<TBuilder>(this TBuilder builder, CircuitBreakerOptions options)
        where TBuilder : ResiliencePipelineBuilderBase =>
        builder.AddCircuitBreaker(Create(builder, options));

    /// <summary>Adds a shared circuit breaker (one per dependency, whatever the pipeline); exceptions other than caller cancellation count as failures.</summary>
    /// <typeparam name="TBuilder">The builder type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="breaker">The breaker.</param>
    /// <returns>The builder.</returns>
    public static TBuilder AddCircuitBreaker<TBuilder>(this TBuilder builder, CircuitBreaker breaker)
        where TBuilder : ResiliencePipelineBuilderBase =>
        builder.AddStrategy(new CircuitBreakerStrategy(breaker));

    /// <summary>Adds a new circuit breaker whose failures are the exceptions <paramref name="shouldHandle"/> accepts.</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="options">The breaker's options; validated and copied. Without a <see cref="CircuitBreakerOptions.TimeProvider"/>, the breaker uses the builder's.</param>
    /// <param name="shouldHandle">Which exceptions are failures; the others are neither failure nor success.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range.</exception>
    public static ResiliencePipelineBuilder AddCircuitBreaker(this ResiliencePipelineBuilder builder, CircuitBreakerOptions options, Func<Exception, bool> shouldHandle) =>
        builder.AddCircuitBreaker(Create(builder, options), shouldHandle);

    /// <summary>Adds a shared circuit breaker whose failures are the exceptions <paramref name="shouldHandle"/> accepts.</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="breaker">The breaker.</param>
    /// <param name="shouldHandle">Which exceptions are failures; the others are neither failure nor success.</param>
    /// <returns>The builder.</returns>
    public static ResiliencePipelineBuilder AddCircuitBreaker(this ResiliencePipelineBuilder builder, CircuitBreaker breaker, Func<Exception, bool> shouldHandle)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddStrategy(new CircuitBreakerStrategy(breaker), shouldHandle);
    }

    /// <summary>Adds a new circuit breaker whose failures are the outcomes (results or exceptions) <paramref name="shouldHandle"/> accepts.</summary>
    /// <typeparam name="T">The pipeline's result type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="options">The breaker's options; validated and copied. Without a <see cref="CircuitBreakerOptions.TimeProvider"/>, the breaker uses the builder's.</param>
    /// <param name="shouldHandle">Which outcomes are failures; the others are successes, except exceptions, which are neither.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range.</exception>
    public static ResiliencePipelineBuilder<T> AddCircuitBreaker<T>(this ResiliencePipelineBuilder<T> builder, CircuitBreakerOptions options, Func<Outcome<T>, bool> shouldHandle) =>
        builder.AddCircuitBreaker(Create(builder, options), shouldHandle);

    /// <summary>Adds a shared circuit breaker whose failures are the outcomes (results or exceptions) <paramref name="shouldHandle"/> accepts.</summary>
    /// <typeparam name="T">The pipeline's result type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="breaker">The breaker.</param>
    /// <param name="shouldHandle">Which outcomes are failures; the others are successes, except exceptions, which are neither.</param>
    /// <returns>The builder.</returns>
    public static ResiliencePipelineBuilder<T> AddCircuitBreaker<T>(this ResiliencePipelineBuilder<T> builder, CircuitBreaker breaker, Func<Outcome<T>, bool> shouldHandle)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddStrategy(new CircuitBreakerStrategy(breaker), shouldHandle);
    }

    private static CircuitBreaker Create(ResiliencePipelineBuilderBase builder, CircuitBreakerOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return new CircuitBreaker(builder.OnPipelineClock(options));
    }
}
