namespace Resilience.Tests.Linearizability;

/// <summary>
/// What a circuit breaker's operation observed: for an acquisition whether it was admitted (as a probe, in which
/// generation) or why not and the retry-after in ticks (-1 for none); for a state or snapshot read the state (and the
/// snapshot's generation); nothing for the others.
/// </summary>
internal readonly record struct BreakerAnswer(bool Admitted, bool Probe, uint Generation, RejectionReason Reason, CircuitState State, long RetryAfterTicks)
{
    public static BreakerAnswer None { get; } = new(false, false, 0, RejectionReason.None, CircuitState.Closed, -1);

    public override string ToString() =>
        Admitted ? $"admitted{(Probe ? " probe" : "")} gen {Generation}"
        : Reason != RejectionReason.None ? $"refused {Reason} {RetryAfterTicks}"
        : $"{State} gen {Generation}";
}
