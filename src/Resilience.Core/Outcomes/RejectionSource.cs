namespace Resilience;

/// <summary>A strategy at its place in one pipeline: created when the pipeline is built, so a rejection allocates nothing.</summary>
internal sealed class RejectionSource(ResilienceStrategy strategy, string? pipelineName)
{
    public ResilienceStrategy Strategy { get; } = strategy;

    public string? PipelineName { get; } = pipelineName;
}
