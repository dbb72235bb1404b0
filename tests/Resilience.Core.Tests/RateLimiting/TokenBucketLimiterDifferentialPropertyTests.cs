using System.Threading.RateLimiting;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.RateLimiting;

/// <summary>
/// Random single-threaded scripts run against the BCL's <see cref="TokenBucketRateLimiter"/> (never replenished) and
/// against <see cref="TokenBucketLimiter"/> (its clock never moved), with the same burst and room to wait (the BCL's queue
/// limit in permits, our maximum wait at one permit a second): only what does not depend on the refill algorithm is
/// compared, after every step. Argument errors and their parameter names, zero permits, lease metadata (names and values),
/// waiters completed or cancelled, disposal, and the statistics must agree. Only the documented differences of our
/// reservation against the BCL's queue are left out, each where it would show.
/// </summary>
public class TokenBucketLimiterDifferentialPropertyTests
{
    private const string Seed = "(1414213562,1732050809)";

    private static Arbitrary<(int Burst, int Room, int[] Steps)> Scripts =>
        (from burst in Gen.Choose(1, 4)
         from room in Gen.Choose(0, 5)
         from steps in DifferentialScript.Steps
         select (burst, room, steps)).ToArbitrary();

    [Property(MaxTest = 400, Replay = Seed)]
    public Property Scripts_behave_as_the_bcl_bucket_where_time_plays_no_part() =>
        Prop.ForAll(Scripts, script => Run(script.Burst, script.Room, script.Steps));

    private static Property Run(int burst, int room, int[] steps)
    {
        var bcl = ScriptedLimiter.Of(new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = burst,
            TokensPerPeriod = 1,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            AutoReplenishment = false,
            QueueLimit = room,
        }));
        var ours = ScriptedLimiter.Of(new TokenBucketLimiter(new TokenBucketLimiterOptions
        {
            PermitsPerSecond = 1,
            Burst = burst,
            MaxWait = TimeSpan.FromSeconds(room),
            TimeProvider = new FakeTimeProvider(),
        }));

        // Documented difference: ours still answers after disposal (its count includes the waiters disposal failed), the
        // BCL's bucket throws ObjectDisposedException.
        bcl.StatisticsAfterDisposal = ours.StatisticsAfterDisposal = false;

        // Documented difference: above the burst the BCL names its own override's parameter, ours the caller's.
        bcl.ParameterAlias = ("tokenCount", "permitCount");
        return new DifferentialScript(bcl, ours, burst, $"burst {burst}, room {room}")
        {
            // Documented difference: a refused zero-permit request's retry-after is the time until a permit is there for
            // it, after those reserved by waiters; the BCL's counts the queued permits but not the one it needs.
            AttemptIsDocumentedDifference = (limiter, permits) => permits == 0 && !limiter.IsDisposed && limiter.StatisticsOf(0)!.CurrentQueuedCount > 0,
            AcquireIsDocumentedDifference = (limiter, permits) => WaitingDiffers(limiter, permits, room),

            // Documented difference: a cancelled waiter gives its slot back only if nobody reserved after it; the BCL's
            // queue forgets it whatever its place.
            CancelIsDocumentedDifference = (limiter, waiter) => limiter.Waiting().Any(other => other.Index > waiter && other.Permits > 0),
        }.Play(steps);
    }

    /// <summary>
    /// Whether a request for <paramref name="permits"/> would meet a documented difference of our reservation against
    /// the BCL's queue: a request for more permits than the bucket holds (not none) reserves those it holds, where the
    /// BCL's bucket keeps them while the request queues; a zero-permit request whose permit is beyond the maximum wait
    /// fails at once with its retry-after, where the BCL's bucket queues it whatever its queue limit.
    /// </summary>
    private static bool WaitingDiffers(ScriptedLimiter limiter, int permits, int room)
    {
        if (limiter.IsDisposed || permits < 0)
        {
            return false;
        }

        var statistics = limiter.StatisticsOf(0)!;
        var available = statistics.CurrentAvailablePermits;
        return permits == 0
            ? available == 0 && statistics.CurrentQueuedCount + 1 > room
            : available > 0 && available < permits;
    }
}
