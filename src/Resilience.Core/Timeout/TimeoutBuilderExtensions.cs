namespace Resilience;

/// <summary>Adds timeouts to pipeline builders.</summary>
public static class TimeoutBuilderExtensions
{
    /// <summary>Adds a timeout per attempt.</summary>
    /// <typeparam name="TBuilder">The builder type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="timeout">How long one attempt may run.</param>
    /// <returns>The builder.</returns>
    public static TBuilder AddTimeout<TBuilder>(this TBuilder builder, TimeSpan timeout)
        where TBuilder : ResiliencePipelineBuilderBase
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddTimeout(new TimeoutOptions { Timeout = timeout, TimeProvider = builder.TimeProvider });
    }

    /// <summary>Adds a timeout per attempt.</summary>
    /// <typeparam name="TBuilder">The builder type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="options">The options; without a <see cref="TimeoutOptions.TimeProvider"/>, the timeout runs on the builder's.</param>
    /// <returns>The builder.</returns>
    public static TBuilder AddTimeout<TBuilder>(this TBuilder builder, TimeoutOptions options)
        where TBuilder : ResiliencePipelineBuilderBase
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddStrategy(new TimeoutStrategy(builder.OnPipelineClock(options)));
    }
}
