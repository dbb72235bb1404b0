namespace Resilience;

/// <summary>Adds retries to pipeline builders.</summary>
public static class RetryBuilderExtensions
{
    /// <summary>Adds a retry; exceptions other than caller cancellation are retried.</summary>
    /// <typeparam name="TBuilder">The builder type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="options">The options.</param>
    /// <returns>The builder.</returns>
    public static TBuilder AddRetry<TBuilder>(this TBuilder builder, RetryOptions options)
        where TBuilder : ResiliencePipelineBuilderBase =>
        builder.AddStrategy(new RetryStrategy(options));

    /// <summary>Adds a retry of the exceptions <paramref name="shouldHandle"/> accepts.</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="options">The options.</param>
    /// <param name="shouldHandle">Which exceptions are retried.</param>
    /// <returns>The builder.</returns>
    public static ResiliencePipelineBuilder AddRetry(this ResiliencePipelineBuilder builder, RetryOptions options, Func<Exception, bool> shouldHandle)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddStrategy(new RetryStrategy(options), shouldHandle);
    }

    /// <summary>Adds a retry of the outcomes (results or exceptions) <paramref name="shouldHandle"/> accepts.</summary>
    /// <typeparam name="T">The pipeline's result type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="options">The options.</param>
    /// <param name="shouldHandle">Which outcomes are retried.</param>
    /// <returns>The builder.</returns>
    public static ResiliencePipelineBuilder<T> AddRetry<T>(this ResiliencePipelineBuilder<T> builder, RetryOptions options, Func<Outcome<T>, bool> shouldHandle)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddStrategy(new RetryStrategy(options), shouldHandle);
    }
}
