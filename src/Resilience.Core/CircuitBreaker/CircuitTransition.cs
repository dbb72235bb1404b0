namespace Resilience;

/// <summary>A change of a breaker's state, with the reason and the figures of the state left.</summary>
public sealed class CircuitTransition : EventArgs
{
    internal CircuitTransition(CircuitBreaker breaker, CircuitState from, CircuitState to, CircuitTransitionReason reason, uint generation, CircuitSnapshot window, TimeSpan? breakDuration)
    {
        Breaker = breaker;
        From = from;
        To = to;
        Reason = reason;
        Generation = generation;
        Window = window;
        BreakDuration = breakDuration;
    }

    /// <summary>Gets the breaker.</summary>
    public CircuitBreaker Breaker { get; }

    /// <summary>Gets the state left.</summary>
    public CircuitState From { get; }

    /// <summary>Gets the state entered.</summary>
    public CircuitState To { get; }

    /// <summary>Gets why.</summary>
    public CircuitTransitionReason Reason { get; }

    /// <summary>Gets the generation the breaker entered.</summary>
    public uint Generation { get; }

    /// <summary>
    /// Gets the figures of the state left when the decision was taken: for a transition out of
    /// <see cref="CircuitState.Closed"/>, the sliding window (for an opening, the figures that opened it); out of
    /// <see cref="CircuitState.HalfOpen"/>, the probes that reported in the round; otherwise zeros.
    /// </summary>
    public CircuitSnapshot Window { get; }

    /// <summary>Gets how long the breaker stays open, for a transition to <see cref="CircuitState.Open"/>.</summary>
    public TimeSpan? BreakDuration { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Breaker.Name}: {From} -> {To} ({Reason}; {Window.Calls} calls, {Window.Failures} failures, {Window.SlowCalls} slow)";
}
