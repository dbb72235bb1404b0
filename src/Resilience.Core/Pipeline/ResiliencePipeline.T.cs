namespace Resilience;

/// <summary>
/// Runs calls that return <typeparamref name="T"/> through resilience strategies, whose predicates can judge results
/// (an HTTP 503 is a failure though nothing was thrown). Immutable once built, thread-safe, and meant to be reused
/// for every call to the dependency it protects. Build one with <see cref="ResiliencePipelineBuilder{T}"/>.
/// </summary>
/// <typeparam name="T">The result type.</typeparam>
/// <remarks>
/// Every form has a state-passing overload (pass a <see langword="static"/> lambda and its state so the call allocates
/// no closure). The <c>ExecuteOutcome</c> forms never throw for the call's failure: they return it, and a rejection
/// by a strategy costs no exception at all. The synchronous forms block when a strategy must wait, and run every
/// attempt on the caller's thread.
/// A call whose token is already cancelled runs nothing (no strategy acts, the callback is not invoked): it ends with an
/// <see cref="OperationCanceledException"/> carrying that token, as a call its caller cancelled.
/// </remarks>
public sealed class ResiliencePipeline<T>
{
    // Not readonly: a pipeline served by name is rebuilt in place when its configured strategies change, so callers
    // keep one instance. A call reads the core once or twice; either core runs it correctly to its end.
    private PipelineCore _core;

    internal ResiliencePipeline(PipelineCore core)
    {
        _core = core;
    }

    /// <summary>Gets a pipeline with no strategies: calls run as they are.</summary>
    public static ResiliencePipeline<T> Empty { get; } = new ResiliencePipelineBuilder<T>().Build();

    /// <summary>Gets the pipeline's name.</summary>
    public string? Name => _core.Name;

    /// <summary>Gets the pipeline's strategies, outermost first.</summary>
    public IReadOnlyList<ResilienceStrategy> Strategies => _core.Strategies;

    internal PipelineCore Core => _core;

    /// <summary>Replaces the strategies of this pipeline for calls that start from now on; calls in flight finish on the old ones.</summary>
    internal void Replace(PipelineCore core) => Volatile.Write(ref _core, core);

    /// <summary>Runs an asynchronous callback that returns a result.</summary>
    /// <typeparam name="TState">The state type.</typeparam>
    /// <param name="callback">The call to protect; observe the token it receives.</param>
    /// <param name="state">The state passed to <paramref name="callback"/>.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>The callback's result; a failure or rejection is thrown.</returns>
    public ValueTask<T> ExecuteAsync<TState>(
        Func<TState, CancellationToken, ValueTask<T>> callback, TState state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return _core.IsEmpty
            ? PipelineEngine.InvokeDirect(callback, state, cancellationToken)
            : PipelineEngine.RunForResultAsync<T, TState, AsyncCallback<TState, T>>(_core, new(callback), state, cancellationToken);
    }

    /// <summary>Runs an asynchronous callback that returns a result.</summary>
    /// <param name="callback">The call to protect; observe the token it receives.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>The callback's result; a failure or rejection is thrown.</returns>
    public ValueTask<T> ExecuteAsync(Func<CancellationToken, ValueTask<T>> callback, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return _core.IsEmpty
            ? PipelineEngine.InvokeDirect(static (callback, token) => callback(token), callback, cancellationToken)
            : PipelineEngine.RunForResultAsync<T, NoState, ClosureAsyncCallback<T>>(_core, new(callback), default, cancellationToken);
    }

    /// <summary>Runs an asynchronous callback and returns its outcome instead of throwing.</summary>
    /// <typeparam name="TState">The state type.</typeparam>
    /// <param name="callback">The call to protect; observe the token it receives.</param>
    /// <param name="state">The state passed to <paramref name="callback"/>.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>The outcome: a result, an exception, or a rejection.</returns>
    public ValueTask<Outcome<T>> ExecuteOutcomeAsync<TState>(
        Func<TState, CancellationToken, ValueTask<T>> callback, TState state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return PipelineEngine.RunOutcomeAsync(_core, callback, state, cancellationToken);
    }

    /// <summary>
    /// Runs a call that must not be repeated (a request that is not idempotent, such as an HTTP POST) and returns its
    /// outcome instead of throwing: the pipeline's retries stand aside, and a retry that a strategy of your own asks for is
    /// not taken (the outcome passes on as it is). Every other strategy acts as on any call: breakers and limiters admit
    /// and count it, timeouts bound it, fallbacks may replace its failure.
    /// </summary>
    /// <typeparam name="TState">The state type.</typeparam>
    /// <param name="callback">The call to protect, invoked at most once; observe the token it receives.</param>
    /// <param name="state">The state passed to <paramref name="callback"/>.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>The outcome: a result, an exception, or a rejection.</returns>
    public ValueTask<Outcome<T>> ExecuteWithoutRetriesOutcomeAsync<TState>(
        Func<TState, CancellationToken, ValueTask<T>> callback, TState state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return PipelineEngine.RunOutcomeAsync(_core.WithoutRetries, callback, state, cancellationToken);
    }

    /// <summary>Runs a synchronous callback that returns a result.</summary>
    /// <typeparam name="TState">The state type.</typeparam>
    /// <param name="callback">The call to protect.</param>
    /// <param name="state">The state passed to <paramref name="callback"/>.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>The callback's result; a failure or rejection is thrown.</returns>
    public T Execute<TState>(Func<TState, CancellationToken, T> callback, TState state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return _core.IsEmpty
            ? PipelineEngine.InvokeDirectSync(callback, state, cancellationToken)
            : PipelineEngine.RunForResult<T, TState, SyncCallback<TState, T>>(_core, new(callback), state, cancellationToken);
    }

    /// <summary>Runs a synchronous callback that returns a result.</summary>
    /// <param name="callback">The call to protect.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>The callback's result; a failure or rejection is thrown.</returns>
    public T Execute(Func<CancellationToken, T> callback, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return _core.IsEmpty
            ? PipelineEngine.InvokeDirectSync(static (callback, token) => callback(token), callback, cancellationToken)
            : PipelineEngine.RunForResult<T, NoState, ClosureSyncCallback<T>>(_core, new(callback), default, cancellationToken);
    }

    /// <summary>Runs a synchronous callback and returns its outcome instead of throwing.</summary>
    /// <typeparam name="TState">The state type.</typeparam>
    /// <param name="callback">The call to protect.</param>
    /// <param name="state">The state passed to <paramref name="callback"/>.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>The outcome: a result, an exception, or a rejection.</returns>
    public Outcome<T> ExecuteOutcome<TState>(Func<TState, CancellationToken, T> callback, TState state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return PipelineEngine.RunOutcome(_core, callback, state, cancellationToken);
    }

    /// <summary>
    /// Runs a call that must not be repeated (a request that is not idempotent, such as an HTTP POST) and returns its
    /// outcome instead of throwing: the pipeline's retries stand aside, and a retry that a strategy of your own asks for is
    /// not taken (the outcome passes on as it is). Every other strategy acts as on any call: breakers and limiters admit
    /// and count it, timeouts bound it, fallbacks may replace its failure.
    /// </summary>
    /// <typeparam name="TState">The state type.</typeparam>
    /// <param name="callback">The call to protect, invoked at most once.</param>
    /// <param name="state">The state passed to <paramref name="callback"/>.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>The outcome: a result, an exception, or a rejection.</returns>
    public Outcome<T> ExecuteWithoutRetriesOutcome<TState>(Func<TState, CancellationToken, T> callback, TState state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return PipelineEngine.RunOutcome(_core.WithoutRetries, callback, state, cancellationToken);
    }
}
