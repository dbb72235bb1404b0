namespace Resilience;

internal readonly struct ClosureSyncCallback<TResult>(Func<CancellationToken, TResult> callback) : ICallback<NoState, TResult>
{
    public bool IsSynchronous => true;

    public TResult InvokeSync(NoState state, CancellationToken cancellationToken) => callback(cancellationToken);

    public ValueTask<TResult> Invoke(NoState state, CancellationToken cancellationToken) => new(InvokeSync(state, cancellationToken));
}
