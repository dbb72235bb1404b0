namespace Resilience;

/// <summary>Builds a <see cref="ResiliencePipeline"/>: strategies in the order added, outermost first.</summary>
public sealed class ResiliencePipelineBuilder : ResiliencePipelineBuilderBase
{
    /// <summary>Adds a strategy whose outcomes are judged by <paramref name="shouldHandle"/>.</summary>
    /// <param name="strategy">The strategy; the same instance may serve several pipelines.</param>
    /// <param name="shouldHandle">Which exceptions count as failures for this strategy. Caller cancellation never does.</param>
    /// <returns>This builder.</returns>
    public ResiliencePipelineBuilder AddStrategy(ResilienceStrategy strategy, Func<Exception, bool> shouldHandle)
    {
        ArgumentNullException.ThrowIfNull(shouldHandle);
        AddComponent(strategy, shouldHandle);
        return this;
    }

    /// <summary>
    /// Gets or sets how to read the retry-after hint a handled failure carries (a server's pushback in an exception, for
    /// example). Strategies see it as <see cref="ExitOutcome.RetryAfter"/>: a retry waits that long instead of its own
    /// delay. <see langword="null"/> (default): only rejections and <see cref="ResilienceException.RetryAfter"/> give hints.
    /// </summary>
    public Func<Exception, TimeSpan?>? RetryAfterHint
    {
        get => (Func<Exception, TimeSpan?>?)RetryAfterReader;
        set => RetryAfterReader = value;
    }

    /// <summary>Builds an immutable, thread-safe pipeline.</summary>
    /// <returns>The pipeline.</returns>
    public ResiliencePipeline Build() => new(BuildCore(typedPredicates: false));
}
