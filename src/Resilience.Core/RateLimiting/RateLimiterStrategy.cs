using System.Threading.RateLimiting;

namespace Resilience;

/// <summary>
/// Runs calls through a <see cref="RateLimiter"/>: one permit per call (per attempt, inside a retry), released when the
/// call ends. Our own limiters take a synchronous path with no lease object; any other limiter is asked with
/// <see cref="RateLimiter.AttemptAcquire"/>, and with <see cref="RateLimiter.AcquireAsync"/> only when waiting is allowed.
/// A refusal rejects the call (<see cref="RateLimiterRejectedException"/>, or a rejected outcome) with the limiter's retry-after.
/// </summary>
public sealed class RateLimiterStrategy : ResilienceStrategy
{
    private readonly TokenBucketLimiter? _bucket;
    private readonly InFlightLimiter? _inFlight;
    private readonly bool _wait;

    /// <summary>Initializes a new instance.</summary>
    /// <param name="limiter">The limiter; it may serve several pipelines.</param>
    /// <param name="waitForPermit">
    /// For a limiter of another type: whether to wait in its queue (<see cref="RateLimiter.AcquireAsync"/>) when no permit is free.
    /// Our limiters wait when their own options allow it (<see cref="TokenBucketLimiterOptions.MaxWait"/>, <see cref="InFlightLimiterOptions.QueueLimit"/>).
    /// </param>
    /// <param name="name">The strategy's name; defaults to the limiter's type name.</param>
    public RateLimiterStrategy(RateLimiter limiter, bool waitForPermit = false, string? name = null)
        : base(name ?? limiter?.GetType().Name)
    {
        ArgumentNullException.ThrowIfNull(limiter);
        Limiter = limiter;
        _bucket = limiter as TokenBucketLimiter;
        _inFlight = limiter as InFlightLimiter;
        _wait = waitForPermit;
    }

    /// <summary>Gets the limiter.</summary>
    public RateLimiter Limiter { get; }

    /// <inheritdoc />
    protected internal override Entry Enter(ref StrategyContext context)
    {
        // The in-flight limiter's admission alone, small enough for the engine to inline (about 3 ns of a call through
        // a pipeline of that limiter); the token bucket, refusals, queues and other limiters out of line.
        if (_inFlight is { } inFlight && inFlight.TryTake(1))
        {
            context.State = 1;
            return Entry.Admitted;
        }

        return EnterOther(ref context);
    }

    /// <summary>Every entry but an in-flight limiter's immediate admission.</summary>
    private Entry EnterOther(ref StrategyContext context)
    {
        if (_bucket is { } bucket)
        {
            if (bucket.TryTake(1, context.NowTicks(in bucket.Clock), out var retryAfter))
            {
                return Entry.Admitted;
            }

            if (bucket.CanWait)
            {
                // Off the admitted path: a wait past the maximum, or any wait once the bucket is disposed, is refused
                // here, counted once, with no task.
                if (!bucket.TryReserve(1, out var reservation, out var refusedFor))
                {
                    return Entry.Reject(RejectionReason.RateLimited, refusedFor);
                }

                // A reservation ahead is a wait, decided here: however soon its time comes, the call waited for it.
                return reservation.MustWait ? Entry.Queued(WaitForBucketAsync(bucket, reservation, context.CancellationToken)) : Entry.Admitted;
            }

            bucket.CountFailure();
            return Entry.Reject(RejectionReason.RateLimited, retryAfter);
        }

        if (_inFlight is { } inFlight)
        {
            return inFlight.HasQueue
                ? EnterWhenLeased(static (InFlightLimiter limiter, CancellationToken token, out bool queued) => limiter.WaitForPermit(token, out queued), inFlight, context.CancellationToken)
                : RejectCounted(inFlight);
        }

        var lease = Limiter.AttemptAcquire(1);
        if (lease.IsAcquired)
        {
            context.StateObject = lease;
            return Entry.Admitted;
        }

        if (_wait)
        {
            lease.Dispose();
            return EnterWhenLeased(
                static (RateLimiter limiter, CancellationToken token, out bool queued) => QueuedUnlessComplete(limiter.AcquireAsync(1, token), out queued),
                Limiter,
                context.CancellationToken);
        }

        return Refuse(lease);
    }

    /// <inheritdoc />
    protected internal override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome)
    {
        if (context.State == 1)
        {
            _inFlight!.Release(1);
        }
        else if (context.StateObject is RateLimitLease lease)
        {
            lease.Dispose();
        }

        return ExitAction.Continue;
    }

    /// <inheritdoc />
    protected internal override ResilienceRejectedException CreateRejectionException(in Rejection rejection) =>
        new RateLimiterRejectedException($"Rate limiter '{Name}' had no permit: the call was not made.", in rejection);

    /// <summary>Turns a failed lease into a rejection that carries its retry-after, and disposes it.</summary>
    internal static Entry Refuse(RateLimitLease lease)
    {
        TimeSpan? retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var value) ? value : null;
        lease.Dispose();
        return Entry.Reject(RejectionReason.RateLimited, retryAfter);
    }

    /// <summary>
    /// Asks for the lease <paramref name="acquire"/> asks for (a limiter's queue, a partition's), awaited by the engine;
    /// the lease becomes the call's state, released on exit. A call the limiter queued waited, however soon it is served:
    /// our limiters say so as they queue it; for another limiter, an acquisition not complete as it returns queued the
    /// call (another thread may serve the queue in between, so it can miss a wait that ended at once).
    /// </summary>
    internal static Entry EnterWhenLeased<TLimiter>(LeaseAcquisition<TLimiter> acquire, TLimiter limiter, CancellationToken cancellationToken)
    {
        ValueTask<RateLimitLease> acquisition;
        bool queued;
        try
        {
            acquisition = acquire(limiter, cancellationToken, out queued);
        }
        catch (Exception exception)
        {
            // Failed as the task failed before: the engine takes its exception as the outcome.
            return Entry.Pending(Task.FromException<Entry>(exception));
        }

        return queued ? Entry.Queued(LeasedAsync(acquisition)) : Entry.Pending(LeasedAsync(acquisition));
    }

    /// <summary>The acquisition of a limiter that cannot tell whether it queued the call: it did if the acquisition is not complete as it returns.</summary>
    internal static ValueTask<RateLimitLease> QueuedUnlessComplete(ValueTask<RateLimitLease> acquisition, out bool queued)
    {
        queued = !acquisition.IsCompleted;
        return acquisition;
    }

    /// <summary>Awaits the lease of an acquisition; the lease becomes the call's state, released on exit.</summary>
    private static async Task<Entry> LeasedAsync(ValueTask<RateLimitLease> acquisition)
    {
        RateLimitLease lease;
        if (acquisition.IsCompletedSuccessfully)
        {
            lease = acquisition.Result;
        }
        else
        {
            // A wait cut short (the caller, an outer timeout) is read, not rethrown here and again by the engine.
            var waiting = acquisition.AsTask();
            await ((Task)waiting).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (!waiting.IsCompletedSuccessfully)
            {
                return Entry.Failed(TaskFailure.Of(waiting));
            }

            lease = waiting.Result;
        }

        return lease.IsAcquired ? Entry.Admit(lease) : Refuse(lease);
    }

    private static Entry RejectCounted(InFlightLimiter limiter)
    {
        limiter.CountFailure();
        return Entry.Reject(RejectionReason.RateLimited);
    }

    private static async Task<Entry> WaitForBucketAsync(TokenBucketLimiter bucket, TokenBucketReservation reservation, CancellationToken cancellationToken)
    {
        var waiting = bucket.WaitAsync(reservation, cancellationToken);
        await ((Task)waiting).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (!waiting.IsCompletedSuccessfully)
        {
            // A wait cut short (the caller, an outer timeout) is read, not rethrown here and again by the engine.
            return Entry.Failed(TaskFailure.Of(waiting));
        }

        return waiting.Result
            ? Entry.Admitted

            // Disposed while the call waited: refused, as a disposed limiter's queue refuses its waiters.
            : Entry.Reject(RejectionReason.RateLimited);
    }
}
