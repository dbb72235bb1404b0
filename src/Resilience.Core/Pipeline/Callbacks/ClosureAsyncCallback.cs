namespace Resilience;

internal readonly struct ClosureAsyncCallback<TResult>(Func<CancellationToken, ValueTask<TResult>> callback) : ICallback<NoState, TResult>
{
    public ValueTask<TResult> Invoke(NoState state, CancellationToken cancellationToken) => callback(cancellationToken);
}
