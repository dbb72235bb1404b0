namespace Resilience.DependencyInjection;

/// <summary>A pipeline in the health view.</summary>
public sealed class PipelineHealth
{
    internal PipelineHealth(string name, bool isConfigured, IReadOnlyList<string> strategies, IReadOnlyList<string> circuitBreakers, IReadOnlyList<string> instances, int maxInstances)
    {
        Instances = instances;
        MaxInstances = maxInstances;
        Name = name;
        IsConfigured = isConfigured;
        Strategies = strategies;
        CircuitBreakers = circuitBreakers;
    }

    /// <summary>Gets the pipeline's name.</summary>
    public string Name { get; }

    /// <summary>Gets whether the pipeline is declared in configuration (otherwise it is registered in code).</summary>
    public bool IsConfigured { get; }

    /// <summary>Gets the names of its strategies in service, outermost first.</summary>
    public IReadOnlyList<string> Strategies { get; }

    /// <summary>Gets the names of the circuit breakers it goes through (see <see cref="ResilienceHealthReport.CircuitBreakers"/>).</summary>
    public IReadOnlyList<string> CircuitBreakers { get; }

    /// <summary>
    /// Gets the keys of its live keyed instances (<see cref="ResiliencePipelineProvider.GetPipeline(string, string)"/>),
    /// in ordinal order; their breakers are listed in <see cref="ResilienceHealthReport.CircuitBreakers"/> with their key.
    /// </summary>
    public IReadOnlyList<string> Instances { get; }

    /// <summary>
    /// Gets how many keyed instances it keeps alive at most: its settings' <c>MaxInstances</c>, or the code's
    /// <see cref="PipelineInstanceOptions.MaxInstances"/>.
    /// </summary>
    public int MaxInstances { get; }
}
