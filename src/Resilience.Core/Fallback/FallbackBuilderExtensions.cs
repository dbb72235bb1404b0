namespace Resilience;

/// <summary>Adds fallbacks to typed pipeline builders.</summary>
public static class FallbackBuilderExtensions
{
    /// <summary>Adds a fallback (a degradation chain of one or more levels); exceptions other than caller cancellation, timeouts included, and rejections are replaced.</summary>
    /// <typeparam name="T">The result type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="options">The options.</param>
    /// <returns>The builder.</returns>
    public static ResiliencePipelineBuilder<T> AddFallback<T>(this ResiliencePipelineBuilder<T> builder, FallbackOptions<T> options) =>
        builder.AddStrategy(new FallbackStrategy<T>(options));

    /// <summary>Adds a fallback that replaces the outcomes <paramref name="shouldHandle"/> accepts (and, by default, rejections).</summary>
    /// <typeparam name="T">The result type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="options">The options.</param>
    /// <param name="shouldHandle">Which outcomes (results or exceptions) are replaced.</param>
    /// <returns>The builder.</returns>
    public static ResiliencePipelineBuilder<T> AddFallback<T>(this ResiliencePipelineBuilder<T> builder, FallbackOptions<T> options, Func<Outcome<T>, bool> shouldHandle)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddStrategy(new FallbackStrategy<T>(options), shouldHandle);
    }

    /// <summary>Adds a fallback that serves a fixed value.</summary>
    /// <typeparam name="T">The result type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="value">The value.</param>
    /// <returns>The builder.</returns>
    public static ResiliencePipelineBuilder<T> AddFallback<T>(this ResiliencePipelineBuilder<T> builder, T value) =>
        builder.AddFallback(new FallbackOptions<T> { Levels = { FallbackLevel<T>.FromValue("default", value) } });
}
