namespace Resilience;

/// <summary>Adds strategies to any pipeline builder.</summary>
public static class ResiliencePipelineBuilderExtensions
{
    /// <summary>Adds a strategy inside the ones already added; exceptions other than caller cancellation count as its failures.</summary>
    /// <typeparam name="TBuilder">The builder type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="strategy">The strategy; the same instance may serve several pipelines.</param>
    /// <returns>The builder.</returns>
    public static TBuilder AddStrategy<TBuilder>(this TBuilder builder, ResilienceStrategy strategy)
        where TBuilder : ResiliencePipelineBuilderBase
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddComponent(strategy, null);
        return builder;
    }
}
