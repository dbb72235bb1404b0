namespace Resilience.Tests.Linearizability;

/// <summary>
/// The concurrency limiter as docs/rate-limiting.md describes it, one operation at a time: a request is granted while
/// its permits fit under the limit with those in use and no waiter comes first (nobody waits, or the queue serves the
/// newest first); a lease disposed gives its permits back once; a lowered limit lets the permits in use stay and admits
/// no one until they fit under it, and drops the waiters that ask for more than it. A request that is not granted
/// queues while the queue has room; a full queue refuses it, or, serving the newest first, drops its oldest waiters for
/// it. A queued request is admitted when it is first in the queue's order and its permits fit (its completion, which
/// may come any time after: a release or a raised limit that makes room need not admit it within its own call);
/// cancelling it while it waits takes it out. Disposal fails every waiter, and an acquisition after it throws (but one
/// called before the disposal returned may still take free permits, or be refused, after it: see TryApply). The
/// answer of an operation is a number: <see cref="Granted"/> or <see cref="Refused"/>, <see cref="QueueFull"/>,
/// <see cref="Queued"/>, <see cref="Cancelled"/> or <see cref="Disposed"/> for acquisitions, the available permits for
/// statistics, 0 otherwise.
/// </summary>
/// <param name="queueLimit">The permits the queue may wait for; 0 for no queue.</param>
/// <param name="newestFirst">Whether the queue serves the newest first.</param>
internal sealed class InFlightLimiterModel(int queueLimit = 0, bool newestFirst = false) : ISequentialModel<InFlightState, InFlightCall, long>
{
    public const long Refused = 0;
    public const long Granted = 1;
    public const long QueueFull = 2;
    public const long Queued = 3;
    public const long Cancelled = 4;
    public const long Disposed = 5;

    public bool TryApply(InFlightState state, InFlightCall call, long observed, out InFlightState next)
    {
        next = state;
        var lease = 1UL << call.Lease;
        var waiter = (char)((call.Lease * 4) + call.Permits);
        var fits = state.InUse + call.Permits <= state.Limit && (state.Queue.Length == 0 || newestFirst);
        if (state.Disposed && call.Kind is InFlightCallKind.Acquire or InFlightCallKind.AcquireAsync)
        {
            // An acquisition looks at disposal apart from the state word: one that looked before a disposal may take
            // free permits after it (or, attempted, be refused), as a pipeline's call does (docs/rate-limiting.md).
            var lateTake = call.CalledBeforeDisposal && observed != Disposed && (call.Kind == InFlightCallKind.Acquire || observed == Granted);
            if (!lateTake)
            {
                return observed == Disposed;
            }
        }

        switch (call.Kind)
        {
            case InFlightCallKind.Acquire:
                if (fits)
                {
                    next = Take(state, call);
                }

                return observed == (fits ? Granted : Refused);

            case InFlightCallKind.AcquireAsync:
                if (fits)
                {
                    next = Take(state, call);
                    return observed == Granted;
                }

                if (queueLimit - state.QueuedPermits < call.Permits && !newestFirst)
                {
                    return observed == QueueFull;
                }

                // Serving the newest first, the oldest waiters make room for the newcomer.
                while (queueLimit - next.QueuedPermits < call.Permits)
                {
                    next = next with { Queue = next.Queue[1..], Dropped = next.Dropped | (1UL << (next.Queue[0] / 4)) };
                }

                next = next with { Queue = next.Queue + waiter };
                return observed == Queued;

            case InFlightCallKind.Completion:
                switch (observed)
                {
                    case Granted:
                        var first = state.Queue.Length > 0 && (newestFirst ? state.Queue[^1] : state.Queue[0]) == waiter;
                        if (!first || state.InUse + call.Permits > state.Limit)
                        {
                            return false;
                        }

                        next = Take(state, call) with { Queue = Without(state.Queue, waiter) };
                        return true;

                    case Refused:
                        next = state with { Dropped = state.Dropped & ~lease };
                        return (state.Dropped & lease) != 0;

                    default:
                        next = state with { Cancelled = state.Cancelled & ~lease };
                        return observed == Cancelled && (state.Cancelled & lease) != 0;
                }

            case InFlightCallKind.Cancel:
                if (state.Queue.Contains(waiter, StringComparison.Ordinal))
                {
                    next = state with { Queue = Without(state.Queue, waiter), Cancelled = state.Cancelled | lease };
                }

                return observed == 0;

            case InFlightCallKind.Release:
                if ((state.Held & lease) != 0)
                {
                    next = state with { InUse = state.InUse - call.Permits, Held = state.Held & ~lease };
                }

                return observed == 0;

            case InFlightCallKind.Statistics:
                return observed == Math.Max(0, state.Limit - state.InUse);

            case InFlightCallKind.Dispose:
                next = Drop(state, _ => true) with { Disposed = true };
                return observed == 0;

            case InFlightCallKind.Update:
                // Waiters asking for more than the new limit could never be served: they fail.
                next = Drop(state, w => w % 4 > call.Permits) with { Limit = call.Permits };
                return observed == 0;

            default:
                throw new ArgumentOutOfRangeException(nameof(call), call, "not a concurrency limiter operation");
        }
    }

    /// <summary>Takes the waiters <paramref name="drop"/> picks out of the queue, failed.</summary>
    private static InFlightState Drop(InFlightState state, Func<char, bool> drop) => state with
    {
        Queue = new string(state.Queue.Where(w => !drop(w)).ToArray()),
        Dropped = state.Queue.Where(drop).Aggregate(state.Dropped, (failed, w) => failed | (1UL << (w / 4))),
    };

    private static string Without(string queue, char waiter) => queue.Replace(waiter.ToString(), string.Empty, StringComparison.Ordinal);

    private static InFlightState Take(InFlightState state, InFlightCall call) =>
        state with { InUse = state.InUse + call.Permits, Held = state.Held | (1UL << call.Lease) };
}
