namespace Resilience;

/// <summary>Builds a <see cref="ResiliencePipeline{T}"/>, whose strategies can judge results as well as exceptions.</summary>
/// <typeparam name="T">The result type of the calls the pipeline runs.</typeparam>
public sealed class ResiliencePipelineBuilder<T> : ResiliencePipelineBuilderBase
{
    /// <summary>Adds a strategy whose outcomes are judged by <paramref name="shouldHandle"/>.</summary>
    /// <param name="strategy">The strategy; the same instance may serve several pipelines.</param>
    /// <param name="shouldHandle">Which outcomes (results or exceptions) count as failures for this strategy. Caller cancellation never does.</param>
    /// <returns>This builder.</returns>
    public ResiliencePipelineBuilder<T> AddStrategy(ResilienceStrategy strategy, Func<Outcome<T>, bool> shouldHandle)
    {
        ArgumentNullException.ThrowIfNull(shouldHandle);
        AddComponent(strategy, shouldHandle);
        return this;
    }

    /// <summary>Builds an immutable, thread-safe pipeline.</summary>
    /// <returns>The pipeline.</returns>
    public ResiliencePipeline<T> Build() => new(BuildCore(typedPredicates: true));
}
