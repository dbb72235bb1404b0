namespace Resilience;

/// <summary>The states of a circuit breaker.</summary>
public enum CircuitState
{
    /// <summary>Calls flow; outcomes are counted in the sliding window.</summary>
    Closed = 0,

    /// <summary>Calls are rejected until the break duration has passed.</summary>
    Open = 1,

    /// <summary>A limited number of probe calls test whether the dependency has recovered.</summary>
    HalfOpen = 2,

    /// <summary>Held open by hand (<see cref="CircuitBreaker.Isolate"/>) until <see cref="CircuitBreaker.Close"/>.</summary>
    Isolated = 3,
}
