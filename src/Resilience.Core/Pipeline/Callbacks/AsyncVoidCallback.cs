namespace Resilience;

internal readonly struct AsyncVoidCallback<TState>(Func<TState, CancellationToken, ValueTask> callback) : ICallback<TState, VoidResult>
{
    public ValueTask<VoidResult> Invoke(TState state, CancellationToken cancellationToken) =>
        VoidTask.ToResult(callback(state, cancellationToken));
}
