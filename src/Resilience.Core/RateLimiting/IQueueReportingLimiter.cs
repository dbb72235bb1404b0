using System.Threading.RateLimiting;

namespace Resilience;

/// <summary>
/// A limiter of ours that tells, as it answers an acquisition, whether it queued the request: a pipeline counts a wait
/// by that, however soon the request is then served (<see cref="TokenBucketLimiter"/>, <see cref="InFlightLimiter"/>).
/// </summary>
internal interface IQueueReportingLimiter
{
    /// <summary>Acquires as <see cref="RateLimiter.AcquireAsync"/> does; <paramref name="queued"/>: whether the request waits.</summary>
    ValueTask<RateLimitLease> Acquire(int permitCount, CancellationToken cancellationToken, out bool queued);
}
