namespace Resilience.DependencyInjection;

/// <summary>A pipeline in the health view.</summary>
public sealed class PipelineHealth
{
    internal PipelineHealth(string name, bool isConfigured, IReadOnlyList<string> strategies, IReadOnlyList<string> circuitBreakers)
    {
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
}
