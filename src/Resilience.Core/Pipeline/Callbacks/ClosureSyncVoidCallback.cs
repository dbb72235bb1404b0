namespace Resilience;

internal readonly struct ClosureSyncVoidCallback(Action<CancellationToken> callback) : ICallback<NoState, VoidResult>
{
    public ValueTask<VoidResult> Invoke(NoState state, CancellationToken cancellationToken)
    {
        callback(cancellationToken);
        return default;
    }
}
