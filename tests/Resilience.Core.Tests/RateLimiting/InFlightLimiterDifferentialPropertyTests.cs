using System.Threading.RateLimiting;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Resilience.Tests.RateLimiting;

/// <summary>
/// Random single-threaded scripts of acquisitions, cancellations, lease disposals and limiter disposal, run against the
/// BCL's <see cref="ConcurrencyLimiter"/> and against <see cref="InFlightLimiter"/> with the same options. After every step
/// both must agree on everything a caller can see: each call's lease or exception, which waiters completed and how, the
/// leases' metadata and the statistics. Only the documented differences are left out, each where it would show.
/// </summary>
public class InFlightLimiterDifferentialPropertyTests
{
    private const string Seed = "(3141592653,2718281829)";

    private static Arbitrary<(int PermitLimit, int QueueLimit, int[] Steps)> Scripts =>
        (from permitLimit in Gen.Choose(1, 4)
         from queueLimit in Gen.Choose(0, 5)
         from steps in DifferentialScript.Steps
         select (permitLimit, queueLimit, steps)).ToArbitrary();

    [Property(MaxTest = 400, Replay = Seed)]
    public Property Oldest_first_scripts_behave_as_the_bcl_limiter() =>
        Prop.ForAll(Scripts, script => Run(QueueProcessingOrder.OldestFirst, script.PermitLimit, script.QueueLimit, script.Steps));

    [Property(MaxTest = 400, Replay = Seed)]
    public Property Newest_first_scripts_behave_as_the_bcl_limiter() =>
        Prop.ForAll(Scripts, script => Run(QueueProcessingOrder.NewestFirst, script.PermitLimit, script.QueueLimit, script.Steps));

    private static Property Run(QueueProcessingOrder order, int permitLimit, int queueLimit, int[] steps)
    {
        var bcl = ScriptedLimiter.Of(new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = permitLimit, QueueLimit = queueLimit, QueueProcessingOrder = order }));
        var ours = ScriptedLimiter.Of(new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = permitLimit, QueueLimit = queueLimit, QueueProcessingOrder = order }));

        // Documented difference: ours still answers after disposal (its count includes the waiters disposal failed), the
        // BCL's limiter throws ObjectDisposedException.
        bcl.StatisticsAfterDisposal = ours.StatisticsAfterDisposal = false;
        var script = new DifferentialScript(
            bcl,
            ours,
            permitLimit,
            $"limit {permitLimit}, queue {queueLimit}, {order}")
        {
            // Documented difference: a waiter that leaves lets the next waiter take the permits it could not have, where
            // the BCL's limiter leaves it waiting for the next release.
            CancelIsDocumentedDifference = (limiter, waiter) => LeavingServesAnother(limiter, order, waiter),

            // Documented difference: a zero-permit waiter waits until a permit is free; the BCL's limiter also serves one
            // that a release reaches after the waiters ahead of it took every permit.
            ReleaseIsDocumentedDifference = (limiter, lease) => ReleaseServesZeroWithoutPermit(limiter, order, limiter.HeldBy(lease).Permits),
        };
        return script.Play(steps);
    }

    /// <summary>
    /// Whether cancelling <paramref name="waiter"/> leaves at the head of the queue a waiter that the free permits
    /// serve: ours serves it at once, the BCL's limiter at the next release.
    /// </summary>
    private static bool LeavingServesAnother(ScriptedLimiter limiter, QueueProcessingOrder order, int waiter)
    {
        var rest = limiter.Waiting().Where(entry => entry.Index != waiter).ToList();
        if (rest.Count == 0 || limiter.IsDisposed)
        {
            return false;
        }

        var head = order == QueueProcessingOrder.OldestFirst ? rest[0] : rest[^1];
        return limiter.StatisticsOf(0)!.CurrentAvailablePermits >= Math.Max(head.Permits, 1);
    }

    /// <summary>
    /// Whether releasing <paramref name="permits"/> would, as the BCL's limiter serves its queue, serve a zero-permit
    /// waiter once the waiters served before it have taken every permit.
    /// </summary>
    private static bool ReleaseServesZeroWithoutPermit(ScriptedLimiter limiter, QueueProcessingOrder order, int permits)
    {
        if (limiter.IsDisposed)
        {
            // Disposal emptied the queue.
            return false;
        }

        var waiting = limiter.Waiting().ToList();
        if (order == QueueProcessingOrder.NewestFirst)
        {
            waiting.Reverse();
        }

        var available = limiter.StatisticsOf(0)!.CurrentAvailablePermits + permits;
        foreach (var (_, _, requested) in waiting)
        {
            if (available < requested)
            {
                return false;
            }

            if (requested == 0 && available == 0)
            {
                return true;
            }

            available -= requested;
        }

        return false;
    }
}
