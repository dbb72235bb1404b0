namespace Resilience;

internal readonly struct AsyncVoidCallback<TState>(Func<TState, CancellationToken, ValueTask> callback) : ICallback<TState, VoidResult>
{
    public bool IsSynchronous => false;

    public VoidResult InvokeSync(TState state, CancellationToken cancellationToken) =>
        Invoke(state, cancellationToken).AsTask().GetAwaiter().GetResult();

    public ValueTask<VoidResult> Invoke(TState state, CancellationToken cancellationToken) =>
        VoidTask.ToResult(callback(state, cancellationToken));
}
