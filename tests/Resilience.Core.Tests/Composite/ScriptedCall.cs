namespace Resilience.Tests.Composite;

/// <summary>
/// The state of one scripted call through the pipeline: its key (what the last-known-good level reads), the value it
/// returns, and what each attempt does. An attempt that does not complete at once leaves its task in
/// <see cref="Pending"/> for the driver to complete, or for the timeout to cancel; every attempt made and the call's end
/// release <see cref="Moved"/>, so the driver waits (bounded) for the call to reach its next resting point, whatever
/// thread the pipeline continues on.
/// </summary>
internal sealed class ScriptedCall(string key, int value, AttemptKind[] attempts)
{
    public string Key { get; } = key;

    public int Value { get; } = value;

    public SemaphoreSlim Moved { get; } = new(0);

    public int Invocations => Volatile.Read(ref _invocations);

    public TaskCompletionSource<int>? Pending { get; private set; }

    public AttemptKind PendingKind { get; private set; }

    private int _invocations;

    /// <summary>The next attempt, as an asynchronous callback.</summary>
    public ValueTask<int> InvokeAsync(CancellationToken cancellationToken)
    {
        var kind = Next();
        if (kind is AttemptKind.Quick or AttemptKind.Slow or AttemptKind.Late or AttemptKind.Hang or AttemptKind.Cancelled or AttemptKind.FaultsLater)
        {
            // Completed by the driver (or the timeout) on the thread that advances the clock: continuations run inline.
            var pending = new TaskCompletionSource<int>();
            if (kind is AttemptKind.Hang or AttemptKind.Cancelled)
            {
                cancellationToken.Register(() => pending.TrySetCanceled(cancellationToken));
            }

            (Pending, PendingKind) = (pending, kind);
            Moved.Release();
            return new ValueTask<int>(pending.Task);
        }

        Moved.Release();
        return new ValueTask<int>(Complete(kind));
    }

    /// <summary>The next attempt, as a synchronous callback (scripts of attempts that complete at once only).</summary>
    public int Invoke(CancellationToken cancellationToken)
    {
        _ = cancellationToken;
        var kind = Next();
        Moved.Release();
        return Complete(kind);
    }

    /// <summary>Whether the call rests: ended, or waiting in an attempt that has not completed.</summary>
    public bool Resting(Task call) => call.IsCompleted || Pending is { Task.IsCompleted: false };

    private AttemptKind Next()
    {
        var index = Interlocked.Increment(ref _invocations) - 1;
        return index < attempts.Length ? attempts[index] : AttemptKind.Ok;
    }

    private int Complete(AttemptKind kind) => kind switch
    {
        AttemptKind.Throws => throw new InvalidOperationException("scripted failure"),
        AttemptKind.FailedResult => -1,
        AttemptKind.Unhandled => throw new ArgumentException("scripted unhandled failure"),
        AttemptKind.Poison => throw new NotSupportedException("scripted failure its judges cannot judge"),
        _ => Value,
    };
}
