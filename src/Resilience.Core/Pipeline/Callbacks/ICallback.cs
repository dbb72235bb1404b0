namespace Resilience;

/// <summary>
/// Invokes the user's callback. Implemented by small structs so the engine is specialised per callback shape
/// (sync or async, with or without a result, with or without state) and needs no adapter delegate.
/// </summary>
internal interface ICallback<TState, TResult>
{
    /// <summary>Gets whether the callback is synchronous: the engine then calls <see cref="InvokeSync"/> and skips the task.</summary>
    bool IsSynchronous { get; }

    ValueTask<TResult> Invoke(TState state, CancellationToken cancellationToken);

    TResult InvokeSync(TState state, CancellationToken cancellationToken);
}
