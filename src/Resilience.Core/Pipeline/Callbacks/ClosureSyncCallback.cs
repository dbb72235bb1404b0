namespace Resilience;

internal readonly struct ClosureSyncCallback<TResult>(Func<CancellationToken, TResult> callback) : ICallback<NoState, TResult>
{
    public ValueTask<TResult> Invoke(NoState state, CancellationToken cancellationToken) => new(callback(cancellationToken));
}
