using System.Threading.RateLimiting;

namespace Resilience;

/// <summary>
/// Asks <paramref name="limiter"/> for a lease a call may wait for, and tells whether the limiter queued the call (a
/// wait, however soon it is served) rather than answering at once.
/// </summary>
/// <typeparam name="TLimiter">The limiter, or the limiter and what it needs to answer (a partition's key).</typeparam>
/// <param name="limiter">The limiter.</param>
/// <param name="cancellationToken">The call's token.</param>
/// <param name="queued">Whether the call was queued.</param>
/// <returns>The acquisition.</returns>
internal delegate ValueTask<RateLimitLease> LeaseAcquisition<TLimiter>(TLimiter limiter, CancellationToken cancellationToken, out bool queued);
