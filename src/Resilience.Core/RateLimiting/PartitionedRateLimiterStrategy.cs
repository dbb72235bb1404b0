using System.Threading.RateLimiting;

namespace Resilience;

/// <summary>
/// Runs calls through a <see cref="PartitionedRateLimiter{TKey}"/> (per tenant, per host): the key selector names the
/// partition of each call, for example from an ambient request context.
/// </summary>
/// <typeparam name="TKey">The partition key.</typeparam>
public sealed class PartitionedRateLimiterStrategy<TKey> : ResilienceStrategy, IPartitionedLimiterStrategy
{
    // The type's own name would be PartitionedRateLimiterStrategy`1, a poor value for a telemetry tag.
    private const string DefaultName = "PartitionedRateLimiter";

    private readonly Func<TKey> _keySelector;
    private readonly bool _wait;

    /// <summary>Initializes a new instance.</summary>
    /// <param name="limiter">The partitioned limiter.</param>
    /// <param name="keySelector">Returns the partition key of the current call.</param>
    /// <param name="waitForPermit">Whether to wait in the partition's queue when no permit is free.</param>
    /// <param name="name">The strategy's name; <c>PartitionedRateLimiter</c> by default.</param>
    public PartitionedRateLimiterStrategy(PartitionedRateLimiter<TKey> limiter, Func<TKey> keySelector, bool waitForPermit = false, string? name = null)
        : base(string.IsNullOrEmpty(name) ? DefaultName : name)
    {
        ArgumentNullException.ThrowIfNull(limiter);
        ArgumentNullException.ThrowIfNull(keySelector);
        Limiter = limiter;
        _keySelector = keySelector;
        _wait = waitForPermit;
    }

    /// <summary>Gets the limiter.</summary>
    public PartitionedRateLimiter<TKey> Limiter { get; }

    /// <inheritdoc />
    IDisposable IPartitionedLimiterStrategy.PartitionedLimiter => Limiter;

    /// <inheritdoc />
    protected internal override Entry Enter(ref StrategyContext context)
    {
        var key = _keySelector();
        var lease = Limiter.AttemptAcquire(key, 1);
        if (lease.IsAcquired)
        {
            context.StateObject = lease;
            return Entry.Admitted;
        }

        if (_wait)
        {
            lease.Dispose();
            if (Limiter is IQueueReportingPartitionedLimiter<TKey> reporting)
            {
                // Ours tells whether the partition queued the call: a wait, however soon it is served.
                return RateLimiterStrategy.EnterWhenLeased(
                    static ((IQueueReportingPartitionedLimiter<TKey> Limiter, TKey Key) partition, CancellationToken token, out bool queued) =>
                        partition.Limiter.Acquire(partition.Key, 1, token, out queued),
                    (reporting, key),
                    context.CancellationToken);
            }

            return RateLimiterStrategy.EnterWhenLeased(
                static ((PartitionedRateLimiter<TKey> Limiter, TKey Key) partition, CancellationToken token, out bool queued) =>
                    RateLimiterStrategy.QueuedUnlessComplete(partition.Limiter.AcquireAsync(partition.Key, 1, token), out queued),
                (Limiter, key),
                context.CancellationToken);
        }

        return RateLimiterStrategy.Refuse(lease);
    }

    /// <inheritdoc />
    protected internal override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome)
    {
        (context.StateObject as RateLimitLease)?.Dispose();
        return ExitAction.Continue;
    }

    /// <inheritdoc />
    protected internal override ResilienceRejectedException CreateRejectionException(in Rejection rejection) =>
        new RateLimiterRejectedException($"Rate limiter '{Name}' had no permit: the call was not made.", in rejection);
}
