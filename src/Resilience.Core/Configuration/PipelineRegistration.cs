using Resilience.DependencyInjection;

namespace Resilience.Configuration;

/// <summary>A pipeline registered in code: its name, its result type (null: untyped) and how to build it.</summary>
/// <param name="Name">The pipeline's name.</param>
/// <param name="ResultType">The result type of a typed pipeline; <see langword="null"/> for an untyped one.</param>
/// <param name="Build">Builds the pipeline.</param>
internal sealed record PipelineRegistration(string Name, Type? ResultType, Func<ResiliencePipelineContext, BuiltPipeline> Build);
