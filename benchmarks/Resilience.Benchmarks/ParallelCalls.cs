namespace Resilience.Benchmarks;

/// <summary>Splits one benchmark invocation's calls among threads that run at once (one thread: the caller's own).</summary>
internal static class ParallelCalls
{
    /// <summary>Runs <paramref name="loop"/> over <paramref name="calls"/> calls in all, shared among <paramref name="threads"/> threads.</summary>
    /// <typeparam name="TState">What the loop calls.</typeparam>
    /// <param name="state">What the loop calls, passed to it so that it can be a static lambda.</param>
    /// <param name="threads">How many threads.</param>
    /// <param name="calls">How many calls in all.</param>
    /// <param name="loop">Makes the given number of calls.</param>
    public static void Run<TState>(TState state, int threads, int calls, Action<TState, int> loop)
    {
        if (threads == 1)
        {
            loop(state, calls);
            return;
        }

        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ => loop(state, calls / threads));
    }
}
