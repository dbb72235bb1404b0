using System.Threading.RateLimiting;
using Resilience.Tests.Linearizability;

namespace Resilience.Tests.RateLimiting;

/// <summary>
/// A request on its way into the queue racing a release, an acquisition and a statistics read: the acquisition is
/// refused only when the request came first (granted, or waiting ahead of it), and then the read sees it.
/// </summary>
public class InFlightLimiterQueueRaceTests
{
    [Fact]
    public void An_acquisition_refused_for_a_request_that_did_not_wait_is_refused_for_its_permits()
    {
        // A limit of 2 with 1 permit held, oldest first. One thread asks for 2 permits and may wait; the other gives the
        // held permit back, tries to take 1 and reads the available permits. If the request was granted without waiting
        // and the try refused, the request came first: it holds both permits, and the read after the try sees 0. 2
        // available is a try refused for a waiter that never waited, before the request took anything.
        const int Iterations = 1_000_000;
        var options = new InFlightLimiterOptions { PermitLimit = 2, QueueLimit = 2 };
        InFlightLimiter limiter = null!;
        RateLimitLease held = null!;
        var grantedAtOnce = new bool[Iterations];
        var refused = new bool[Iterations];
        var available = new long[Iterations];
        var wrong = LockstepRace.Run(
            Iterations,
            spread: 32,
            firstSpread: 16,
            setUp: _ =>
            {
                var fresh = new InFlightLimiter(options);
                held = fresh.AttemptAcquire(1);
                Volatile.Write(ref limiter, fresh);
            },
            first: i =>
            {
                var request = limiter.Acquire(2, CancellationToken.None, out var queued);
                grantedAtOnce[i] = !queued && request.IsCompletedSuccessfully && Granted(request);
            },
            second: i =>
            {
                var current = Volatile.Read(ref limiter);
                held.Dispose();
                refused[i] = !current.AttemptAcquire(1).IsAcquired;
                available[i] = current.GetStatistics()!.CurrentAvailablePermits;
            },
            check: i => grantedAtOnce[i] && refused[i] && available[i] != 0 ? $"refused, yet {available[i]} available before the request took its permits" : null);

        Assert.Empty(wrong);
    }

    private static bool Granted(ValueTask<RateLimitLease> completed) => completed.Result.IsAcquired;
}
