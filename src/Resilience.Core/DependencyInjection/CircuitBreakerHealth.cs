namespace Resilience.DependencyInjection;

/// <summary>A circuit breaker in the health view: its state and the figures of its current window.</summary>
public sealed class CircuitBreakerHealth
{
    internal CircuitBreakerHealth(string name, CircuitSnapshot window)
    {
        Name = name;
        Window = window;
    }

    /// <summary>Gets the breaker's name.</summary>
    public string Name { get; }

    /// <summary>Gets the breaker's state.</summary>
    public CircuitState State => Window.State;

    /// <summary>Gets the state, generation and figures of the current window.</summary>
    public CircuitSnapshot Window { get; }
}
