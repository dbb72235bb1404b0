namespace Resilience;

internal readonly struct SyncVoidCallback<TState>(Action<TState, CancellationToken> callback) : ICallback<TState, VoidResult>
{
    public bool IsSynchronous => true;

    public VoidResult InvokeSync(TState state, CancellationToken cancellationToken)
    {
        callback(state, cancellationToken);
        return default;
    }

    public ValueTask<VoidResult> Invoke(TState state, CancellationToken cancellationToken) => new(InvokeSync(state, cancellationToken));
}
