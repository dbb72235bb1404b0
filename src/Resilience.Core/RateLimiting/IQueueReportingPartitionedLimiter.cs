using System.Threading.RateLimiting;

namespace Resilience;

/// <summary>
/// A partitioned limiter that tells, as it answers an acquisition, whether it queued the request: a pipeline counts a
/// wait by that, however soon the request is then served (<see cref="BoundedPartitionedLimiter{TKey}"/>).
/// </summary>
/// <typeparam name="TKey">The partition key.</typeparam>
internal interface IQueueReportingPartitionedLimiter<in TKey>
{
    /// <summary>Acquires as <see cref="PartitionedRateLimiter{TResource}.AcquireAsync"/> does; <paramref name="queued"/>: whether the request waits.</summary>
    ValueTask<RateLimitLease> Acquire(TKey resource, int permitCount, CancellationToken cancellationToken, out bool queued);
}
