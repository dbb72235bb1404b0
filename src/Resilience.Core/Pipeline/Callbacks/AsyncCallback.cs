namespace Resilience;

internal readonly struct AsyncCallback<TState, TResult>(Func<TState, CancellationToken, ValueTask<TResult>> callback) : ICallback<TState, TResult>
{
    public bool IsSynchronous => false;

    public TResult InvokeSync(TState state, CancellationToken cancellationToken) =>
        Invoke(state, cancellationToken).AsTask().GetAwaiter().GetResult();

    public ValueTask<TResult> Invoke(TState state, CancellationToken cancellationToken) => callback(state, cancellationToken);
}
