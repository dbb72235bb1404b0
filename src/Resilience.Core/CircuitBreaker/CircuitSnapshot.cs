namespace Resilience;

/// <summary>
/// A breaker's state and its figures, for metrics, health checks and tests: while closed, the sliding window; while
/// half-open, the probes that reported in the round.
/// </summary>
/// <param name="State">The state.</param>
/// <param name="Generation">The state generation: it changes on every transition.</param>
/// <param name="Calls">Calls counted: finished in the window (closed), or probes that reported (half-open).</param>
/// <param name="Failures">Of those, failures.</param>
/// <param name="SlowCalls">Of those, slow calls.</param>
public readonly record struct CircuitSnapshot(CircuitState State, uint Generation, long Calls, long Failures, long SlowCalls)
{
    /// <summary>Gets the failure ratio of the window; 0 when it is empty.</summary>
    public double FailureRatio => Calls == 0 ? 0 : (double)Failures / Calls;

    /// <summary>Gets the slow-call ratio of the window; 0 when it is empty.</summary>
    public double SlowCallRatio => Calls == 0 ? 0 : (double)SlowCalls / Calls;
}
