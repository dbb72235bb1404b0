namespace Resilience.Grpc;

/// <summary>
/// A task made on first request and handed out again on every later one, its failure observed, as gRPC's own calls
/// hand out their response headers: a caller that reads the headers and drops them, or reads them twice and awaits
/// once, leaves no task to be reported as unobserved.
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
        created.ContinueWith(
            static task => _ = task.Exception,
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

        // Two first reads at once: the one published first is every read's (the other's failure is observed all the same).
        return Interlocked.CompareExchange(ref slot, created, null) ?? created;
    }
}
