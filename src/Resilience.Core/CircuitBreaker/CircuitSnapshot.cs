namespace Resilience;

/// <summary>A breaker's state and the figures of its current window, for metrics, health checks and tests.</summary>
/// <param name="State">The state.</param>
/// <param name="Generation">The state generation: it changes on every transition.</param>
/// <param name="Calls">Calls finished in the window of the current generation.</param>
/// <param name="Failures">Of those, failures.</param>
/// <param name="SlowCalls">Of those, slow calls.</param>
public readonly record struct CircuitSnapshot(CircuitState State, uint Generation, long Calls, long Failures, long SlowCalls)
{
    /// <summary>Gets the failure ratio of the window; 0 when it is empty.</summary>
    public double FailureRatio => Calls == 0 ? 0 : (double)Failures / Calls;

    /// <summary>Gets the slow-call ratio of the window; 0 when it is empty.</summary>
    public double SlowCallRatio => Calls == 0 ? 0 : (double)SlowCalls / Calls;
}
