namespace Resilience;

internal readonly struct ClosureAsyncVoidCallback(Func<CancellationToken, ValueTask> callback) : ICallback<NoState, VoidResult>
{
    public bool IsSynchronous => false;

    public VoidResult InvokeSync(NoState state, CancellationToken cancellationToken) =>
        Invoke(state, cancellationToken).AsTask().GetAwaiter().GetResult();

    public ValueTask<VoidResult> Invoke(NoState state, CancellationToken cancellationToken) => VoidTask.ToResult(callback(cancellationToken));
}
