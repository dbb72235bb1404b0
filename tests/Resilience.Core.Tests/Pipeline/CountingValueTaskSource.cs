using System.Threading.Tasks.Sources;

namespace Resilience.Tests.Pipeline;

/// <summary>
/// A reusable <see cref="IValueTaskSource"/>, as pooled sources are: its result must be taken exactly once per
/// operation, which is when it may be reused; it counts how often it was taken.
/// </summary>
internal sealed class CountingValueTaskSource : IValueTaskSource
{
    private ManualResetValueTaskSourceCore<bool> _core;

    public int Consumed;

    /// <summary>An operation that has already succeeded.</summary>
    public ValueTask Completed()
    {
        _core.Reset();
        _core.SetResult(true);
        return new ValueTask(this, _core.Version);
    }

    public void GetResult(short token)
    {
        Consumed++;
        _core.GetResult(token);
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
