namespace Resilience;

internal readonly struct ClosureAsyncVoidCallback(Func<CancellationToken, ValueTask> callback) : ICallback<NoState, VoidResult>
{
    public ValueTask<VoidResult> Invoke(NoState state, CancellationToken cancellationToken) => VoidTask.ToResult(callback(cancellationToken));
}
