namespace Resilience;

internal readonly struct SyncCallback<TState, TResult>(Func<TState, CancellationToken, TResult> callback) : ICallback<TState, TResult>
{
    public ValueTask<TResult> Invoke(TState state, CancellationToken cancellationToken) => new(callback(state, cancellationToken));
}
