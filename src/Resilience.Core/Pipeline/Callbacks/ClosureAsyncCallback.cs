namespace Resilience;

internal readonly struct ClosureAsyncCallback<TResult>(Func<CancellationToken, ValueTask<TResult>> callback) : ICallback<NoState, TResult>
{
    public bool IsSynchronous => false;

    public TResult InvokeSync(NoState state, CancellationToken cancellationToken) =>
        Invoke(state, cancellationToken).AsTask().GetAwaiter().GetResult();

    public ValueTask<TResult> Invoke(NoState state, CancellationToken cancellationToken) => callback(cancellationToken);
}
