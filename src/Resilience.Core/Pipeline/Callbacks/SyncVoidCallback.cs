namespace Resilience;

internal readonly struct SyncVoidCallback<TState>(Action<TState, CancellationToken> callback) : ICallback<TState, VoidResult>
{
    public ValueTask<VoidResult> Invoke(TState state, CancellationToken cancellationToken)
    {
        callback(state, cancellationToken);
        return default;
    }
}
