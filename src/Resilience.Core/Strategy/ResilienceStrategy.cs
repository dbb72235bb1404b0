namespace Resilience;

/// <summary>
/// A resilience strategy: synchronous hooks the pipeline engine runs before and after the call it protects.
/// Every built-in strategy is written against this class, and so can yours.
/// </summary>
/// <remarks>
/// <para>
/// The engine enters the strategies of a pipeline in order (outermost first), runs the user's callback once,
/// then exits them in reverse order. <see cref="Enter"/> may admit, reject or ask the engine to await
/// admission; <see cref="Exit"/> sees the outcome as judged by this strategy's predicate and may let it pass,
/// replace it by an exception, ask for the inner part to run again after a delay, or ask for a fallback.
/// Because hooks are synchronous, a pipeline costs no asynchronous state machine beyond the one the
/// callback needs, however many strategies it holds.
/// </para>
/// <para>
/// A strategy instance may be shared by several pipelines and is called concurrently: keep per-call data in
/// <see cref="StrategyContext.State"/> and <see cref="StrategyContext.StateObject"/>, not in fields.
/// </para>
/// </remarks>
public abstract class ResilienceStrategy
{
    /// <summary>Initializes a new instance.</summary>
    /// <param name="name">The strategy's name for telemetry and exceptions; defaults to the type name.</param>
    protected ResilienceStrategy(string? name = null)
    {
        Name = string.IsNullOrEmpty(name) ? GetType().Name : name;
    }

    /// <summary>Gets the strategy's name.</summary>
    public string Name { get; }

    /// <summary>
    /// Gets whether the engine hands this strategy every successful result (<see cref="ObserveResult"/>). Off by default,
    /// so strategies that do not look at results cost nothing for it.
    /// </summary>
    protected internal bool ObservesResults { get; init; }

    /// <summary>
    /// Gets whether the strategy repeats, bounds or replaces attempts (a retry, a timeout, a fallback). Such a strategy
    /// stands aside in a call that is one attempt by nature (see
    /// <see cref="ResiliencePipeline.ExecuteSingleAttemptOutcomeAsync{TResult, TState}"/>): what it would do to an
    /// attempt cannot be done to that call.
    /// </summary>
    internal virtual bool ShapesAttempts => false;

    /// <summary>
    /// Gets whether the strategy runs the call again (a retry). Such a strategy stands aside in a call that must not be
    /// repeated (see <see cref="ResiliencePipeline{T}.ExecuteWithoutRetriesOutcomeAsync{TState}"/>).
    /// </summary>
    internal virtual bool RepeatsAttempts => false;

    /// <summary>Runs before each attempt of the inner call.</summary>
    /// <param name="context">
    /// The call as this strategy sees it. Passed by reference so that it is not copied; a strategy reads it and never
    /// assigns to it (the engine may hand the same context to <see cref="Exit"/>).
    /// </param>
    /// <returns>
    /// <see cref="Entry.Admitted"/> to go on, <see cref="Entry.Reject"/> to refuse the call, or
    /// <see cref="Entry.Pending"/> when admission must be awaited (for example a limiter's queue).
    /// An exception thrown here does not admit the call: this strategy does not exit, and the strategies outside it see
    /// the exception as the outcome.
    /// </returns>
    protected internal virtual Entry Enter(ref StrategyContext context) => Entry.Admitted;

    /// <summary>
    /// Runs after the inner call finished, or after an inner strategy rejected it. Runs once for every
    /// <see cref="Enter"/> that admitted the call (and after a pending entry that admitted it).
    /// </summary>
    /// <param name="context">The call as this strategy sees it; <see cref="StrategyContext.State"/> holds what <see cref="Enter"/> stored.</param>
    /// <param name="outcome">The outcome of the inner part, judged by this strategy's predicate.</param>
    /// <returns>
    /// What the engine does next. An exception thrown here replaces the outcome, as <see cref="ExitAction.Fail"/> would;
    /// the strategies outside this one still exit.
    /// </returns>
    protected internal virtual ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome) => ExitAction.Continue;

    /// <summary>
    /// Sees a successful result on its way out (only when <see cref="ObservesResults"/>), before <see cref="Exit"/>; not a
    /// result an inner fallback served (a built-in fallback's level, <see cref="Outcome{T}.FallbackLevel"/>, or what a
    /// strategy's own <see cref="ProvideFallbackAsync"/> returned). An exception thrown here replaces the
    /// outcome, as a throwing predicate's does: <see cref="Exit"/> still runs, on that exception, not handled.
    /// </summary>
    /// <typeparam name="TResult">The result type of the call.</typeparam>
    /// <typeparam name="TState">The type of the caller's state.</typeparam>
    /// <param name="result">The result.</param>
    /// <param name="state">The state the caller passed to the pipeline.</param>
    protected internal virtual void ObserveResult<TResult, TState>(TResult result, TState state)
    {
    }

    /// <summary>
    /// Produces the outcome that replaces a failed one, after <see cref="Exit"/> returned <see cref="ExitAction.Fallback"/>.
    /// </summary>
    /// <typeparam name="TResult">The result type of the call.</typeparam>
    /// <typeparam name="TState">The type of the caller's state.</typeparam>
    /// <param name="outcome">The outcome being replaced.</param>
    /// <param name="state">The state the caller passed to the pipeline.</param>
    /// <param name="pipelineName">The name of the pipeline running the call (a strategy may serve several pipelines).</param>
    /// <param name="cancellationToken">The token in force outside this strategy.</param>
    /// <returns>The replacement outcome.</returns>
    protected internal virtual ValueTask<Outcome<TResult>> ProvideFallbackAsync<TResult, TState>(
        Outcome<TResult> outcome, TState state, string? pipelineName, CancellationToken cancellationToken) =>
        throw new InvalidOperationException($"Strategy '{Name}' asked for a fallback but does not provide one.");

    /// <summary>Creates the exception that describes a rejection by this strategy.</summary>
    /// <param name="rejection">The rejection.</param>
    /// <returns>The exception; called only when a caller needs an exception object.</returns>
    protected internal virtual ResilienceRejectedException CreateRejectionException(in Rejection rejection) =>
        new($"The call was rejected by strategy '{Name}' ({rejection.Reason}).", in rejection);

    /// <inheritdoc />
    public override string ToString() => Name;
}
