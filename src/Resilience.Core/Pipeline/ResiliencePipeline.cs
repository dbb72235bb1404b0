namespace Resilience;

/// <summary>
/// Runs calls of any result type through resilience strategies. Immutable once built, thread-safe, and meant to be
/// reused for every call to the dependency it protects. Build one with <see cref="ResiliencePipelineBuilder"/>.
/// </summary>
/// <remarks>
/// Every form has a state-passing overload (pass a <see langword="static"/> lambda and its state so the call allocates
/// no closure). The <c>ExecuteOutcome</c> forms never throw for the call's failure: they return it, and a rejection
/// by a strategy costs no exception at all. The synchronous forms block when a strategy must wait (a retry delay,
/// a limiter queue), and run every attempt on the caller's thread.
/// A call whose token is already cancelled runs nothing (no strategy acts, the callback is not invoked): it ends with an
/// <see cref="OperationCanceledException"/> carrying that token, as a call its caller cancelled.
/// </remarks>
public sealed class ResiliencePipeline
{
    // Not readonly: a pipeline served by name is rebuilt in place when its configured strategies change, so callers
    // keep one instance. A call reads the core once or twice; either core runs it correctly to its end.
    private PipelineCore _core;

    internal ResiliencePipeline(PipelineCore core)
    {
        _core = core;
    }

    /// <summary>Gets a pipeline with no strategies: calls run as they are.</summary>
    public static ResiliencePipeline Empty { get; } = new ResiliencePipelineBuilder().Build();

    /// <summary>Gets the pipeline's name.</summary>
    public string? Name => _core.Name;

    /// <summary>Gets the pipeline's strategies, outermost first.</summary>
    public IReadOnlyList<ResilienceStrategy> Strategies => _core.Strategies;

    internal PipelineCore Core => _core;

    /// <summary>Replaces the strategies of this pipeline for calls that start from now on; calls in flight finish on the old ones.</summary>
    internal void Replace(PipelineCore core) => Volatile.Write(ref _core, core);

    /// <summary>Runs an asynchronous callback that returns a result.</summary>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <typeparam name="TState">The state type.</typeparam>
    /// <param name="callback">The call to protect; observe the token it receives.</param>
    /// <param name="state">The state passed to <paramref name="callback"/>.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>The callback's result; a failure or rejection is thrown.</returns>
    public ValueTask<TResult> ExecuteAsync<TResult, TState>(
        Func<TState, CancellationToken, ValueTask<TResult>> callback, TState state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return _core.IsEmpty
            ? PipelineEngine.InvokeDirect(callback, state, cancellationToken)
            : PipelineEngine.RunForResultAsync<TResult, TState, AsyncCallback<TState, TResult>>(_core, new(callback), state, cancellationToken);
    }

    /// <summary>Runs an asynchronous callback that returns a result.</summary>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="callback">The call to protect; observe the token it receives.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>The callback's result; a failure or rejection is thrown.</returns>
    public ValueTask<TResult> ExecuteAsync<TResult>(Func<CancellationToken, ValueTask<TResult>> callback, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return _core.IsEmpty
            ? PipelineEngine.InvokeDirect(static (callback, token) => callback(token), callback, cancellationToken)
            : PipelineEngine.RunForResultAsync<TResult, NoState, ClosureAsyncCallback<TResult>>(_core, new(callback), default, cancellationToken);
    }

    /// <summary>Runs an asynchronous callback that returns nothing.</summary>
    /// <typeparam name="TState">The state type.</typeparam>
    /// <param name="callback">The call to protect; observe the token it receives.</param>
    /// <param name="state">The state passed to <paramref name="callback"/>.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>A task that completes with the call; a failure or rejection is thrown.</returns>
    public ValueTask ExecuteAsync<TState>(Func<TState, CancellationToken, ValueTask> callback, TState state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return _core.IsEmpty
            ? PipelineEngine.InvokeDirect(callback, state, cancellationToken)
            : PipelineEngine.RunForCompletionAsync<TState, AsyncVoidCallback<TState>>(_core, new(callback), state, cancellationToken);
    }

    /// <summary>Runs an asynchronous callback that returns nothing.</summary>
    /// <param name="callback">The call to protect; observe the token it receives.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>A task that completes with the call; a failure or rejection is thrown.</returns>
    public ValueTask ExecuteAsync(Func<CancellationToken, ValueTask> callback, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return _core.IsEmpty
            ? PipelineEngine.InvokeDirect(static (callback, token) => callback(token), callback, cancellationToken)
            : PipelineEngine.RunForCompletionAsync<NoState, ClosureAsyncVoidCallback>(_core, new(callback), default, cancellationToken);
    }

    /// <summary>Runs an asynchronous callback and returns its outcome instead of throwing.</summary>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <typeparam name="TState">The state type.</typeparam>
    /// <param name="callback">The call to protect; observe the token it receives.</param>
    /// <param name="state">The state passed to <paramref name="callback"/>.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>The outcome: a result, an exception, or a rejection.</returns>
    public ValueTask<Outcome<TResult>> ExecuteOutcomeAsync<TResult, TState>(
        Func<TState, CancellationToken, ValueTask<TResult>> callback, TState state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return PipelineEngine.RunOutcomeAsync(_core, callback, state, cancellationToken);
    }

    /// <summary>
    /// Runs a call that is one attempt by nature and returns its outcome instead of throwing: a call that can be neither
    /// repeated nor bounded as a whole once it has begun, such as a stream. Only the strategies that admit calls and
    /// record their outcomes act on it (circuit breakers, rate and concurrency limiters, telemetry, and strategies of your
    /// own); retries, timeouts and fallbacks stand aside, and a retry or fallback that a strategy of your own asks for is
    /// not taken (the outcome passes on as it is).
    /// </summary>
    /// <remarks>
    /// Let the callback's task complete when the call ends (a stream's last message read, its failure, the caller's
    /// cancellation): a limiter's permit is held until then and released once, and the outcome is judged by the
    /// pipeline's predicates as any call's (the caller's cancellation is neither a success nor a failure).
    /// </remarks>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <typeparam name="TState">The state type.</typeparam>
    /// <param name="callback">The call to protect; observe the token it receives.</param>
    /// <param name="state">The state passed to <paramref name="callback"/>.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>The outcome: a result, an exception, or a rejection (the callback was then not invoked).</returns>
    public ValueTask<Outcome<TResult>> ExecuteSingleAttemptOutcomeAsync<TResult, TState>(
        Func<TState, CancellationToken, ValueTask<TResult>> callback, TState state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return PipelineEngine.RunOutcomeAsync(_core.SingleAttempt, callback, state, cancellationToken);
    }

    /// <summary>
    /// Runs a call that must not be repeated (a request that is not idempotent, such as an HTTP POST) and returns its
    /// outcome instead of throwing: the pipeline's retries stand aside, and a retry that a strategy of your own asks for is
    /// not taken (the outcome passes on as it is). Every other strategy acts as on any call: breakers and limiters admit
    /// and count it, timeouts bound it, fallbacks may replace its failure.
    /// </summary>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <typeparam name="TState">The state type.</typeparam>
    /// <param name="callback">The call to protect, invoked at most once; observe the token it receives.</param>
    /// <param name="state">The state passed to <paramref name="callback"/>.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>The outcome: a result, an exception, or a rejection.</returns>
    public ValueTask<Outcome<TResult>> ExecuteWithoutRetriesOutcomeAsync<TResult, TState>(
        Func<TState, CancellationToken, ValueTask<TResult>> callback, TState state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return PipelineEngine.RunOutcomeAsync(_core.WithoutRetries, callback, state, cancellationToken);
    }

    /// <summary>Runs a synchronous callback that returns a result.</summary>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <typeparam name="TState">The state type.</typeparam>
    /// <param name="callback">The call to protect.</param>
    /// <param name="state">The state passed to <paramref name="callback"/>.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>The callback's result; a failure or rejection is thrown.</returns>
    public TResult Execute<TResult, TState>(Func<TState, CancellationToken, TResult> callback, TState state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return _core.IsEmpty
            ? PipelineEngine.InvokeDirectSync(callback, state, cancellationToken)
            : PipelineEngine.RunForResult<TResult, TState, SyncCallback<TState, TResult>>(_core, new(callback), state, cancellationToken);
    }

    /// <summary>Runs a synchronous callback that returns a result.</summary>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="callback">The call to protect.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>The callback's result; a failure or rejection is thrown.</returns>
    public TResult Execute<TResult>(Func<CancellationToken, TResult> callback, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return _core.IsEmpty
            ? PipelineEngine.InvokeDirectSync(static (callback, token) => callback(token), callback, cancellationToken)
            : PipelineEngine.RunForResult<TResult, NoState, ClosureSyncCallback<TResult>>(_core, new(callback), default, cancellationToken);
    }

    /// <summary>Runs a synchronous callback that returns nothing.</summary>
    /// <typeparam name="TState">The state type.</typeparam>
    /// <param name="callback">The call to protect.</param>
    /// <param name="state">The state passed to <paramref name="callback"/>.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    public void Execute<TState>(Action<TState, CancellationToken> callback, TState state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(callback);
        if (_core.IsEmpty)
        {
            // The same rule as through any pipeline: a caller that already cancelled runs nothing.
            cancellationToken.ThrowIfCancellationRequested();
            callback(state, cancellationToken);
            return;
        }

        PipelineEngine.RunForResult<VoidResult, TState, SyncVoidCallback<TState>>(_core, new(callback), state, cancellationToken);
    }

    /// <summary>Runs a synchronous callback that returns nothing.</summary>
    /// <param name="callback">The call to protect.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    public void Execute(Action<CancellationToken> callback, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(callback);
        if (_core.IsEmpty)
        {
            // The same rule as through any pipeline: a caller that already cancelled runs nothing.
            cancellationToken.ThrowIfCancellationRequested();
            callback(cancellationToken);
            return;
        }

        PipelineEngine.RunForResult<VoidResult, NoState, ClosureSyncVoidCallback>(_core, new(callback), default, cancellationToken);
    }

    /// <summary>Runs a synchronous callback and returns its outcome instead of throwing.</summary>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <typeparam name="TState">The state type.</typeparam>
    /// <param name="callback">The call to protect.</param>
    /// <param name="state">The state passed to <paramref name="callback"/>.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>The outcome: a result, an exception, or a rejection.</returns>
    public Outcome<TResult> ExecuteOutcome<TResult, TState>(Func<TState, CancellationToken, TResult> callback, TState state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return PipelineEngine.RunOutcome(_core, callback, state, cancellationToken);
    }
}
