namespace Resilience.Grpc;

/// <summary>
/// A task made on first request and handed out again on every later one, as gRPC's own calls hand out their
/// response headers: a caller that asks twice and awaits once leaves no second task to fault unobserved.
/// </summary>
internal static class CachedTask
{
    /// <summary>Returns the task in <paramref name="slot"/>, made by <paramref name="create"/> the first time.</summary>
    public static Task<TResult> Of<TResult, TState>(ref Task<TResult>? slot, TState state, Func<TState, Task<TResult>> create)
    {
        if (Volatile.Read(ref slot) is { } made)
        {
            return made;
        }

        var created = create(state);
        if (Interlocked.CompareExchange(ref slot, created, null) is { } first)
        {
            // Another thread made it first: this one is handed to nobody, so its failure is observed here.
            _ = created.ContinueWith(static task => task.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return first;
        }

        return created;
    }
}
