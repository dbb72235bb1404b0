namespace Resilience.DependencyInjection;

/// <summary>A circuit breaker in the health view: its state and the figures of its current window.</summary>
public sealed class CircuitBreakerHealth
{
    internal CircuitBreakerHealth(string name, CircuitBreaker breaker, string? instanceKey = null)
    {
        Name = name;
        InstanceKey = instanceKey;
        Window = breaker.GetSnapshot(out var retryAfter);
        RetryAfter = retryAfter;
    }

    /// <summary>Gets the breaker's name.</summary>
    public string Name { get; }

    /// <summary>
    /// Gets the key of the pipeline instance the breaker belongs to (one served by
    /// <see cref="ResiliencePipelineProvider.GetPipeline(string, string)"/>), or <see langword="null"/> for a shared
    /// breaker or one of a pipeline's single instance. Each instance's breaker is listed under the pipeline's breaker name.
    /// </summary>
    public string? InstanceKey { get; }

    /// <summary>Gets the breaker's state.</summary>
    public CircuitState State => Window.State;

    /// <summary>Gets the state, generation and figures of the current window.</summary>
    public CircuitSnapshot Window { get; }

    /// <summary>
    /// Gets, while the breaker is open, the time until it lets a call through as a probe: zero once its break has
    /// passed (it reads <see cref="CircuitState.Open"/> until a call comes). <see langword="null"/> in other states.
    /// </summary>
    public TimeSpan? RetryAfter { get; }
}
