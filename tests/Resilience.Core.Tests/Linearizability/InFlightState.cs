namespace Resilience.Tests.Linearizability;

/// <summary>
/// A concurrency limiter's state in the reference model: permits in use, the limit, which leases hold permits, the
/// queue (one character per waiter, oldest first: its lease times 4 plus its permits), and the waiters taken out of the
/// queue failed (dropped for a newer one, above a lowered limit, or by disposal) or cancelled whose tasks have not yet
/// completed, and whether the limiter was disposed.
/// </summary>
internal readonly record struct InFlightState(int InUse, int Limit, ulong Held, string Queue = "", ulong Dropped = 0, ulong Cancelled = 0, bool Disposed = false)
{
    /// <summary>The permits the queue waits for.</summary>
    public int QueuedPermits => Queue.Sum(waiter => waiter % 4);

    public override string ToString() =>
        $"in use {InUse} of {Limit}, held {Held:x}, queue [{string.Join(" ", Queue.Select(w => $"{w / 4}:{w % 4}"))}], dropped {Dropped:x}, cancelled {Cancelled:x}{(Disposed ? ", disposed" : "")}";
}
