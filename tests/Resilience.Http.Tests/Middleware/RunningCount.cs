namespace Resilience.Http.Tests.Middleware;

/// <summary>How many requests a handler runs at once, and the most it ran.</summary>
internal sealed class RunningCount
{
    private int _running;
    private int _most;

    public int Running => Volatile.Read(ref _running);

    public int Most => Volatile.Read(ref _most);

    public void Enter()
    {
        var running = Interlocked.Increment(ref _running);
        var seen = Volatile.Read(ref _most);
        while (running > seen)
        {
            var previous = Interlocked.CompareExchange(ref _most, running, seen);
            if (previous == seen)
            {
                return;
            }

            seen = previous;
        }
    }

    public void Exit() => Interlocked.Decrement(ref _running);
}
