namespace Resilience.Tests.Pipeline;

/// <summary>
/// The time provider of the model's pipelines: its timers fire at once, on a thread-pool thread (a retry's delay is
/// waited for without waiting), and it counts clock reads, which a pipeline whose strategies need no duration never makes.
/// </summary>
internal sealed class ModelClock : TimeProvider
{
    private int _reads;

    public int Reads => Volatile.Read(ref _reads);

    public override long GetTimestamp()
    {
        Interlocked.Increment(ref _reads);
        return base.GetTimestamp();
    }

    public override DateTimeOffset GetUtcNow()
    {
        Interlocked.Increment(ref _reads);
        return base.GetUtcNow();
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        ThreadPool.QueueUserWorkItem(static work => work.Callback(work.State), (Callback: callback, State: state), preferLocal: false);
        return new FiredTimer();
    }

    private sealed class FiredTimer : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period) => false;

        public void Dispose()
        {
        }

        public ValueTask DisposeAsync() => default;
    }
}
