namespace Resilience;

/// <summary>
/// The pipeline face of a <see cref="CircuitBreaker"/>: asks it for a permit on entry and reports the outcome on exit.
/// The pipeline's predicate decides what is a failure. Caller cancellation, rejections by inner strategies and
/// exceptions the predicate does not handle are neither success nor failure: they say nothing of the dependency's
/// health (a probe's slot is freed). With slow-call tracking on, durations come from the pipeline's timestamps.
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
        // A transition handler that throws here (the breaker gave its probe slot back) is, like any hook's exception,
        // made the call's outcome by the engine, and the outer strategies still exit.
        var permit = Breaker.AcquireCore(stampStart: false);
        if (!permit.IsAcquired)
        {
            return Entry.Rejected(permit.PackedRejection);
        }

        var token = permit.Token;

        if (Breaker.TracksSlowCalls)
        {
            // The engine reads the pipeline's clock at most once per pass and shares it with every strategy of the call.
            token |= CircuitBreaker.StartStamp(Milliseconds(ref context));
        }

        context.State = token;
        return Entry.Admitted;
    }

    /// <inheritdoc />
    protected internal override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome)
    {
        var token = context.State;

        // A failure that ends a call its caller cancelled may be the cancellation's doing (a driver that reports it as an
        // error of its own, a connection aborted midway), not the dependency's: ignored, as a retry and a fallback judge
        // it. Read on the failure path only.
        var result = outcome.IsHandled ? (context.CallerCancellationToken.IsCancellationRequested ? CircuitCallResult.Ignored : CircuitCallResult.Failure)
            : outcome.IsSuccess ? CircuitCallResult.Success
            : CircuitCallResult.Ignored;
        var elapsedTicks = result != CircuitCallResult.Ignored && CircuitBreaker.IsTimed(token)
            ? CircuitBreaker.ElapsedTicks(token, Milliseconds(ref context))
            : -1;

        // A transition handler's exception (thrown once every handler ran) replaces the outcome, as any exit's does.
        Breaker.RecordCore(token, result, elapsedTicks, result != CircuitCallResult.Ignored ? context.NowTicks(in Breaker.Clock) : 0)?.Throw();
        return ExitAction.Continue;
    }

    /// <inheritdoc />
    protected internal override ResilienceRejectedException CreateRejectionException(in Rejection rejection) =>
        rejection.Reason == RejectionReason.IsolatedCircuit
            ? new IsolatedCircuitException($"Circuit '{Name}' is isolated: the call was not made.", in rejection)
            : new BrokenCircuitException($"Circuit '{Name}' is open: the call was not made.", in rejection);

    /// <summary>
    /// The pipeline's timestamp in whole milliseconds, exactly: a product in floating point is off by a millisecond near
    /// a millisecond's end once timestamps pass 2^53 (a clock counting ticks of 100 ns since year 1, as a fake clock
    /// set to a date does), which would shorten a measured call and let it escape the slow-call duration.
    /// </summary>
    private static long Milliseconds(ref StrategyContext context)
    {
        var timestamp = context.GetTimestamp();
        return context.TimeProvider.TimestampFrequency switch
        {
            // Divisions by constants: a multiplication and a shift each.
            TimeSpan.TicksPerSecond => timestamp / TimeSpan.TicksPerMillisecond,
            1_000_000_000 => timestamp / 1_000_000,
            var frequency => (long)((Int128)timestamp * 1000 / frequency),
        };
    }
}
