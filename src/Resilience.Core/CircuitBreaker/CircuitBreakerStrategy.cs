namespace Resilience;

/// <summary>
/// The pipeline face of a <see cref="CircuitBreaker"/>: asks it for a permit on entry and reports the outcome on exit.
/// The pipeline's predicate decides what is a failure; caller cancellation and rejections by inner strategies are
/// neither success nor failure (a probe's slot is freed). An exception the predicate does not handle is ignored too:
/// it says nothing of the dependency's health.
/// </summary>
public sealed class CircuitBreakerStrategy : ResilienceStrategy
{
    /// <summary>Initializes a new instance over <paramref name="breaker"/>.</summary>
    /// <param name="breaker">The breaker; it may serve several pipelines.</param>
    public CircuitBreakerStrategy(CircuitBreaker breaker)
        : base((breaker ?? throw new ArgumentNullException(nameof(breaker))).Name)
    {
        Breaker = breaker;
    }

    /// <summary>Gets the breaker.</summary>
    public CircuitBreaker Breaker { get; }

    /// <inheritdoc />
    protected internal override Entry Enter(ref StrategyContext context)
    {
        var permit = Breaker.TryAcquire();
        if (!permit.IsAcquired)
        {
            return Entry.Reject(permit.RejectionReason, permit.RetryAfter);
        }

        context.State = permit.Token;
        return Entry.Admitted;
    }

    /// <inheritdoc />
    protected internal override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome)
    {
        var result = outcome.IsHandled ? CircuitCallResult.Failure
            : outcome.IsSuccess ? CircuitCallResult.Success
            : CircuitCallResult.Ignored;
        Breaker.Record(new CircuitPermit(context.State), result);
        return ExitAction.Continue;
    }

    /// <inheritdoc />
    protected internal override ResilienceRejectedException CreateRejectionException(in Rejection rejection) =>
        rejection.Reason == RejectionReason.IsolatedCircuit
            ? new IsolatedCircuitException($"Circuit '{Name}' is isolated: the call was not made.", in rejection)
            : new BrokenCircuitException($"Circuit '{Name}' is open: the call was not made.", in rejection);
}
