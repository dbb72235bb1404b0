namespace Resilience.Configuration;

/// <summary>A pipeline built by code: the instance (a <see cref="ResiliencePipeline"/> or a <see cref="ResiliencePipeline{T}"/>) and its strategies.</summary>
/// <param name="Pipeline">The pipeline.</param>
/// <param name="Strategies">Its strategies, outermost first.</param>
internal sealed record BuiltPipeline(object Pipeline, IReadOnlyList<ResilienceStrategy> Strategies);
