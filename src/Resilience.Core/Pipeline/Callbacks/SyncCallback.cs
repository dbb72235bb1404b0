namespace Resilience;

internal readonly struct SyncCallback<TState, TResult>(Func<TState, CancellationToken, TResult> callback) : ICallback<TState, TResult>
{
    public bool IsSynchronous => true;

    public TResult InvokeSync(TState state, CancellationToken cancellationToken) => callback(state, cancellationToken);

    public ValueTask<TResult> Invoke(TState state, CancellationToken cancellationToken) => new(InvokeSync(state, cancellationToken));
}
