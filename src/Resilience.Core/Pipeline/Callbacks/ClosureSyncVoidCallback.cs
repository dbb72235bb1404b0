namespace Resilience;

internal readonly struct ClosureSyncVoidCallback(Action<CancellationToken> callback) : ICallback<NoState, VoidResult>
{
    public bool IsSynchronous => true;

    public VoidResult InvokeSync(NoState state, CancellationToken cancellationToken)
    {
        callback(cancellationToken);
        return default;
    }

    public ValueTask<VoidResult> Invoke(NoState state, CancellationToken cancellationToken) => new(InvokeSync(state, cancellationToken));
}
