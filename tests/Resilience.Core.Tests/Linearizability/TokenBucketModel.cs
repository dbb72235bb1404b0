using System.Threading.RateLimiting;

namespace Resilience.Tests.Linearizability;

/// <summary>
/// The token bucket as docs/rate-limiting.md describes it, one operation at a time, with time fixed at <see cref="Now"/>:
/// the generic cell rate algorithm in 1/256 of a 100 ns tick, a permit's interval rounded up to that unit; a request
/// for n permits is granted when the arrival, moved n intervals later, stays within the burst of now, and refused
/// otherwise with the exact time until it would (rounded up to a tick); an options change keeps the permits the bucket
/// holds, capped at the new burst.
/// </summary>
internal sealed class TokenBucketModel(IReadOnlyList<TokenBucketLimiterOptions> shapes) : ISequentialModel<BucketState, BucketCall, BucketAnswer>
{
    private const long Scale = 256;

    /// <summary>Gets or sets the bucket's scaled time for the round being checked.</summary>
    public long Now { get; set; }

    public static long Interval(TokenBucketLimiterOptions shape) =>
        Math.Max(1, (long)Math.Ceiling(Scale * TimeSpan.TicksPerSecond / shape.PermitsPerSecond));

    public static long Capacity(TokenBucketLimiterOptions shape) => shape.Burst * Interval(shape);

    public bool TryApply(BucketState state, BucketCall call, BucketAnswer observed, out BucketState next)
    {
        var shape = shapes[state.Shape];
        var (interval, capacity) = (Interval(shape), Capacity(shape));
        next = state;
        switch (call.Kind)
        {
            case BucketCallKind.Acquire:
                var reserved = state.Arrival + (call.Value * interval);
                var excess = reserved - Now - capacity;
                if (excess > 0)
                {
                    return observed == new BucketAnswer(false, (excess + Scale - 1) / Scale);
                }

                next = state with { Arrival = reserved };
                return observed == new BucketAnswer(true, 0);

            case BucketCallKind.Statistics:
                return observed == new BucketAnswer(true, Math.Max(0, (capacity - (state.Arrival - Now)) / interval));

            default:
                // The permits held are kept (capped at the new burst) in the new rate's time; nobody waits here, so no debt.
                var target = shapes[call.Value];
                var available = capacity - (state.Arrival - Now);
                var kept = Math.Min((long)((double)available / interval * Interval(target)), Capacity(target));
                var rebased = Now + Capacity(target) - kept;

                // A change that would leave a bucket that is not full at the very arrival it had, under another rate or
                // burst, moves it 1/256 of a tick earlier (a taker that read the old arrival must not find it again).
                var arrival = rebased == state.Arrival && kept < Capacity(target) && (Interval(target) != interval || Capacity(target) != capacity)
                    ? rebased - 1
                    : rebased;
                next = new BucketState(arrival, call.Value);
                return observed == new BucketAnswer(true, 0);
        }
    }

    /// <summary>The same state seen from a later now: an arrival before it is a full bucket, as an arrival at it is.</summary>
    public static BucketState Normalized(BucketState state, long now) => state with { Arrival = Math.Max(state.Arrival, now) };
}
