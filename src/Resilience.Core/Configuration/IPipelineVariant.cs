namespace Resilience.Configuration;

/// <summary>One built form (untyped, or typed for one result type) of a pipeline declared in configuration.</summary>
internal interface IPipelineVariant
{
    /// <summary>Gets the pipeline instance callers hold.</summary>
    object Pipeline { get; }

    /// <summary>Gets the pipeline's strategies in service, outermost first.</summary>
    IReadOnlyList<ResilienceStrategy> Strategies { get; }

    /// <summary>Replaces the pipeline's strategies in place: the instance stays, calls in flight finish on the old ones.</summary>
    void Rebuild(ResilienceRuntime runtime, IReadOnlyList<ResilienceStrategy> strategies);
}
