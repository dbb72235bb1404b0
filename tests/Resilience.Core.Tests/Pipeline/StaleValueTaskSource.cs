using System.Threading.Tasks.Sources;

namespace Resilience.Tests.Pipeline;

/// <summary>
/// A pooled source whose operation was already consumed and the source reused: a task still pointing at it can no longer
/// be read, and every look at it throws, as <see cref="ManualResetValueTaskSourceCore{TResult}"/> does for a stale token.
/// </summary>
internal sealed class StaleValueTaskSource<T> : IValueTaskSource<T>
{
    public static ValueTask<T> Task() => new(new StaleValueTaskSource<T>(), 0);

    public T GetResult(short token) => throw Stale();

    public ValueTaskSourceStatus GetStatus(short token) => throw Stale();

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) => throw Stale();

    private static InvalidOperationException Stale() => new("stale");
}
