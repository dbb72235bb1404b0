using System.Threading.RateLimiting;
using Microsoft.Extensions.Time.Testing;
using Resilience.Tests.Linearizability;

namespace Resilience.Tests.RateLimiting;

/// <summary>
/// Reads of a token bucket that an options change overtakes midway: the answer is the bucket's before the change or
/// after it, never the old settings' figures read through the new ones.
/// </summary>
public class TokenBucketLiveChangeRaceTests
{
    [Fact]
    public void Statistics_overtaken_by_a_change_count_the_permits_of_one_settings()
    {
        var clock = new ReadingHookTimeProvider(new FakeTimeProvider());
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 100, Burst = 4, TimeProvider = clock });
        Assert.True(bucket.AttemptAcquire(2).IsAcquired);

        // Two permits held at 100 a second are two at 400 a second (the change keeps them): before the change and after
        // it, two are available. The change comes while the statistics read the clock, after they read the arrival.
        clock.AtNextReading = () => bucket.UpdateOptions(new TokenBucketLimiterOptions { PermitsPerSecond = 400, Burst = 8 });
        var available = bucket.GetStatistics()!.CurrentAvailablePermits;

        Assert.Equal(2, available);
        Assert.Equal(2, bucket.GetStatistics()!.CurrentAvailablePermits);
    }

    [Fact]
    public void A_taker_racing_a_change_that_keeps_the_arrival_pays_the_new_rate()
    {
        // Two of four permits at 100/s fill the same time as two of three at 50/s: the change rebases onto the arrival
        // it replaces. A taker that read that arrival and the old settings just before the change must not find it again
        // after it and take half a permit of the new rate. Whichever goes first, one permit is left at 50/s, so two are
        // 20 ms away.
        var wrong = Race(
            prepare: bucket => bucket.AttemptAcquire(2).IsAcquired,
            from: new TokenBucketLimiterOptions { PermitsPerSecond = 100, Burst = 4 },
            to: new TokenBucketLimiterOptions { PermitsPerSecond = 50, Burst = 3 },
            take: bucket => bucket.AttemptAcquire(1).Dispose(),
            check: bucket => RetryAfter(bucket.AttemptAcquire(2)) is var wait && wait == TimeSpan.FromMilliseconds(20) ? null : $"two permits {wait} away");
        Assert.Empty(wrong);
    }

    [Fact]
    public void A_taker_racing_a_change_of_a_bucket_full_at_that_instant_pays_one_rate()
    {
        // A bucket that refills to full at the very instant of a change (one of four permits taken at 100/s, 10 ms ago)
        // would rebase onto the arrival it replaces: a taker that read that arrival and the old settings just before the
        // change must not find it again after it and take a permit at the old rate's price (half a permit at 50/s).
        // Taken first, the permit leaves three of four, which the change keeps as a full bucket of three; taken after, it
        // leaves two of three, 20 ms short of three. Never 10 ms short.
        var wrong = Race(
            prepare: bucket => bucket.AttemptAcquire(1).IsAcquired,
            from: new TokenBucketLimiterOptions { PermitsPerSecond = 100, Burst = 4 },
            to: new TokenBucketLimiterOptions { PermitsPerSecond = 50, Burst = 3 },
            take: bucket => bucket.AttemptAcquire(1).Dispose(),
            check: bucket => RetryAfter(bucket.AttemptAcquire(3)) is var wait && (wait is null || wait == TimeSpan.FromMilliseconds(20)) ? null : $"three permits {wait} away",
            elapsed: TimeSpan.FromMilliseconds(10));
        Assert.Empty(wrong);
    }

    [Fact]
    public void A_refusal_racing_a_change_is_the_old_settings_or_the_new()
    {
        // An empty bucket of three permits at 50/s changed to eight at 400/s stays empty: a refused permit is 20 ms
        // away before the change, 2.5 ms after it, never the old arrival priced at the new rate (42.5 ms).
        string? refusal = null;
        var wrong = Race(
            prepare: bucket => bucket.AttemptAcquire(3).IsAcquired,
            from: new TokenBucketLimiterOptions { PermitsPerSecond = 50, Burst = 3 },
            to: new TokenBucketLimiterOptions { PermitsPerSecond = 400, Burst = 8 },
            take: bucket =>
            {
                var wait = RetryAfter(bucket.AttemptAcquire(1));
                refusal = wait == TimeSpan.FromMilliseconds(20) || wait == TimeSpan.FromMilliseconds(2.5) ? null : $"refused with {wait}";
            },
            check: _ => refusal);
        Assert.Empty(wrong);
    }

    private static TimeSpan? RetryAfter(System.Threading.RateLimiting.RateLimitLease lease) =>
        lease.IsAcquired ? null : lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.MinValue;

    /// <summary>
    /// Runs a taker on one thread against an options change on another, on fresh buckets, the taker's start swept across
    /// the change's (no timing is asserted: every schedule has one right answer), <paramref name="elapsed"/> after the
    /// buckets were prepared; returns the iterations answered wrong.
    /// </summary>
    private static List<string> Race(
        Func<TokenBucketLimiter, bool> prepare,
        TokenBucketLimiterOptions from,
        TokenBucketLimiterOptions to,
        Action<TokenBucketLimiter> take,
        Func<TokenBucketLimiter, string?> check,
        TimeSpan elapsed = default)
    {
        const int Iterations = 150_000;
        var time = new FakeTimeProvider();
        var buckets = new TokenBucketLimiter[Iterations];
        for (var i = 0; i < Iterations; i++)
        {
            buckets[i] = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = from.PermitsPerSecond, Burst = from.Burst, TimeProvider = time });
            Assert.True(prepare(buckets[i]));
        }

        time.Advance(elapsed);

        var wrong = LockstepRace.Run(
            Iterations,
            spread: 48,
            firstSpread: 24,
            setUp: null,
            first: i => buckets[i].UpdateOptions(to),
            second: i => take(buckets[i]),
            check: i => check(buckets[i]));
        return wrong;
    }
}
