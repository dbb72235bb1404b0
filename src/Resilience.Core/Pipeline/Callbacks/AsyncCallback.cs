namespace Resilience;

internal readonly struct AsyncCallback<TState, TResult>(Func<TState, CancellationToken, ValueTask<TResult>> callback) : ICallback<TState, TResult>
{
    public ValueTask<TResult> Invoke(TState state, CancellationToken cancellationToken) => callback(state, cancellationToken);
}
