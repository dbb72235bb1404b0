using System.Threading.RateLimiting;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.RateLimiting;

/// <summary>The token bucket at the edges of every option validation accepts, on a fake clock that moves by ticks and by years.</summary>
public class TokenBucketExtremesPropertyTests
{
    private const string Seed = "(1618033988,1414213563)";

    // The ends of the rate's range and values between, whole and fractional.
    private static readonly double[] Rates = [0.000001, 0.0000015, 0.001, 0.3, 1, 7, 1_000_000, 12_345_678.9, 500_000_000, 1e9];

    private static readonly TimeSpan[] Steps =
    [
        TimeSpan.Zero, TimeSpan.FromTicks(1), TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(999), TimeSpan.FromSeconds(1),
        TimeSpan.FromHours(1), TimeSpan.FromDays(1), TimeSpan.FromDays(365),
    ];

    // The clock may run this far from the bucket's start in one test: far beyond any uptime, within the bucket's time range.
    private static readonly TimeSpan Horizon = TimeSpan.FromDays(365 * 60);

    private static int MaxBurst(double rate) => (int)Math.Min(1_000_000_000, Math.Floor(rate * 315_360_000));

    /// <summary>
    /// For any rate and burst at or between the ends of their ranges and any schedule of requests (zero, one, several and
    /// all the burst's permits) at steps from a tick to a year: no exception; a refused request's retry-after is never
    /// negative, never more than its permits take to refill, and exact (one tick earlier the request is refused, at it
    /// granted); the statistics count every request; and no window holds more than the burst plus the rate's permits,
    /// whatever the rounding of the bucket's interval at the highest rates.
    /// </summary>
    [Property(MaxTest = 300, Replay = Seed)]
    public Property Every_accepted_rate_and_burst_keeps_its_bounds_on_any_clock(int seed)
    {
        var random = new Random(seed);
        var rate = Rates[random.Next(Rates.Length)];
        var burst = new[] { 1, 2, MaxBurst(rate) }[random.Next(3)];
        var time = random.Next(3) == 0 ? new FakeTimeProvider(DateTimeOffset.MinValue) : new FakeTimeProvider();
        var start = time.GetTimestamp();
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = rate, Burst = burst, TimeProvider = time });

        // The bucket's interval is a whole number of 1/256 ticks, at least the rate's (never faster than the rate).
        var interval = Math.Max(1, Math.Ceiling(256 * TimeSpan.TicksPerSecond / rate));
        var granted = new List<(long Ticks, int Permits)>();
        long leases = 0, failures = 0;
        var failuresFound = new List<string>();
        for (var operation = 0; operation < 40 && failuresFound.Count == 0; operation++)
        {
            var step = random.Next(4) == 0 ? TimeSpan.FromMilliseconds(random.Next(5000)) : Steps[random.Next(Steps.Length)];
            if (time.GetTimestamp() - start + step.Ticks < Horizon.Ticks)
            {
                time.Advance(step);
            }

            var permits = new[] { 0, 1, 2, burst - 1, burst }[random.Next(5)];
            permits = Math.Clamp(permits, 0, burst);
            using var lease = bucket.AttemptAcquire(permits);
            if (lease.IsAcquired)
            {
                leases++;
                granted.Add((time.GetTimestamp(), permits));
                continue;
            }

            failures++;
            if (!lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter))
            {
                failuresFound.Add($"{permits} refused without a retry-after");
                break;
            }

            var refill = TimeSpan.FromTicks((long)Math.Ceiling(Math.Max(permits, 1) * interval / 256) + 1);
            if (retryAfter < TimeSpan.Zero || retryAfter > refill)
            {
                failuresFound.Add($"{permits} refused with retry-after {retryAfter}, outside [0, {refill}]");
                break;
            }

            if (permits == 0 || time.GetTimestamp() - start + retryAfter.Ticks >= Horizon.Ticks)
            {
                continue;
            }

            if (retryAfter > TimeSpan.Zero)
            {
                time.Advance(retryAfter - TimeSpan.FromTicks(1));
                using var early = bucket.AttemptAcquire(permits);
                if (early.IsAcquired)
                {
                    failuresFound.Add($"{permits} granted a tick before retry-after {retryAfter}");
                    break;
                }

                failures++;
                time.Advance(TimeSpan.FromTicks(1));
            }

            using var due = bucket.AttemptAcquire(permits);
            if (!due.IsAcquired)
            {
                failuresFound.Add($"{permits} refused at retry-after {retryAfter}");
                break;
            }

            leases++;
            granted.Add((time.GetTimestamp(), permits));
        }

        var statistics = bucket.GetStatistics()!;
        if (statistics.TotalSuccessfulLeases != leases || statistics.TotalFailedLeases != failures
            || statistics.CurrentAvailablePermits < 0 || statistics.CurrentAvailablePermits > burst)
        {
            failuresFound.Add($"statistics {statistics.TotalSuccessfulLeases}/{statistics.TotalFailedLeases} available {statistics.CurrentAvailablePermits}; counted {leases}/{failures}");
        }

        for (var i = 0; i < granted.Count && failuresFound.Count == 0; i++)
        {
            long total = 0;
            for (var j = i; j < granted.Count; j++)
            {
                total += granted[j].Permits;
                // Whatever the rounding of the interval, never more than the rate asked for.
                var seconds = (double)(granted[j].Ticks - granted[i].Ticks) / TimeSpan.TicksPerSecond;
                if (total > (burst + (rate * seconds)) * (1 + 1e-12))
                {
                    failuresFound.Add($"{total} permits in {TimeSpan.FromTicks(granted[j].Ticks - granted[i].Ticks)}");
                    break;
                }
            }
        }

        return (failuresFound.Count == 0).Label($"rate {rate}, burst {burst}: {string.Join("; ", failuresFound)}");
    }

    /// <summary>
    /// For any schedule of requests, waiters (some cancelled) and live changes between options at the ends of their
    /// ranges (a millionth to a billion permits a second, burst 1 to its maximum, waits of zero to a day): every request
    /// is answered without hanging, every waiter ends, and the statistics count every lease and refusal.
    /// </summary>
    [Property(MaxTest = 300, Replay = Seed)]
    public Property Live_changes_between_extremes_with_waiters_answer_every_request_and_count_it(int seed) =>
        Task.Run(() => LiveChangesBetweenExtremes(seed)).WaitAsync(TimeSpan.FromSeconds(120)).GetAwaiter().GetResult();

    private static Property LiveChangesBetweenExtremes(int seed)
    {
        var random = new Random(seed);
        var time = new FakeTimeProvider();
        var start = time.GetTimestamp();
        TokenBucketLimiterOptions Options()
        {
            var rate = Rates[random.Next(Rates.Length)];
            return new TokenBucketLimiterOptions
            {
                PermitsPerSecond = rate,
                Burst = new[] { 1, 2, MaxBurst(rate) }[random.Next(3)],
                MaxWait = new[] { TimeSpan.Zero, TimeSpan.FromTicks(1), TimeSpan.FromSeconds(1), TimeSpan.FromDays(1) }[random.Next(4)],
                TimeProvider = time,
            };
        }

        var options = Options();
        var bucket = new TokenBucketLimiter(options);
        var waiters = new List<Task<RateLimitLease>>();
        long leases = 0, failures = 0;
        for (var operation = 0; operation < 40; operation++)
        {
            var burst = options.Burst;
            var permits = Math.Clamp(new[] { 1, 2, burst - 1, burst }[random.Next(4)], 1, burst);
            switch (random.Next(8))
            {
                case 0:
                    options = Options();
                    bucket.UpdateOptions(options);
                    break;
                case 1:
                    var step = Steps[random.Next(Steps.Length)];
                    if (time.GetTimestamp() - start + step.Ticks < Horizon.Ticks)
                    {
                        time.Advance(step);
                    }

                    break;
                case 2:
                case 3:
                    using (var cancel = new CancellationTokenSource())
                    {
                        var waiter = bucket.AcquireAsync(permits, cancel.Token).AsTask();
                        if (random.Next(3) == 0 && !waiter.IsCompleted)
                        {
                            // Cancelled: no lease and no failed lease.
                            cancel.Cancel();
                            if (!SpinWait.SpinUntil(() => waiter.IsCompleted, TimeSpan.FromSeconds(30)) || !waiter.IsCanceled)
                            {
                                return false.Label("a cancelled waiter did not end cancelled");
                            }
                        }
                        else
                        {
                            waiters.Add(waiter);
                        }
                    }

                    break;
                default:
                    time.Advance(TimeSpan.FromMilliseconds(random.Next(2000)));
                    if (bucket.AttemptAcquire(permits).IsAcquired)
                    {
                        leases++;
                    }
                    else
                    {
                        failures++;
                    }

                    break;
            }
        }

        // Every waiter's slot is at most the longest wait ahead.
        time.Advance(TimeSpan.FromDays(1) + TimeSpan.FromTicks(1));
        if (!SpinWait.SpinUntil(() => waiters.All(waiter => waiter.IsCompleted), TimeSpan.FromSeconds(30)))
        {
            return false.Label($"{waiters.Count(waiter => !waiter.IsCompleted)} waiters never ended");
        }

        foreach (var waiter in waiters)
        {
            if (waiter.IsCompletedSuccessfully && waiter.Result.IsAcquired)
            {
                leases++;
            }
            else
            {
                failures++;
            }
        }

        var statistics = bucket.GetStatistics()!;
        return (statistics.TotalSuccessfulLeases == leases && statistics.TotalFailedLeases == failures && statistics.CurrentQueuedCount == 0)
            .Label($"statistics {statistics.TotalSuccessfulLeases}/{statistics.TotalFailedLeases} queued {statistics.CurrentQueuedCount}, counted {leases}/{failures}");
    }

    [Fact]
    public void A_bucket_at_the_highest_rates_never_grants_faster_than_its_rate()
    {
        // 500 million a second is 5.12 units of 1/256 tick a permit: rounded to 5, the bucket granted 2.4 % too many.
        var time = new FakeTimeProvider();
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 500_000_000, Burst = 1_000_000_000, TimeProvider = time });
        Assert.True(bucket.AttemptAcquire(1_000_000_000).IsAcquired);

        // 1.99 s refill 995 million permits at the rate: a billion are not there yet.
        time.Advance(TimeSpan.FromSeconds(1.99));
        using var early = bucket.AttemptAcquire(1_000_000_000);
        Assert.False(early.IsAcquired);
        Assert.True(early.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter));
        Assert.InRange(retryAfter, TimeSpan.FromSeconds(0.01), TimeSpan.FromSeconds(0.42));

        time.Advance(retryAfter);
        Assert.True(bucket.AttemptAcquire(1_000_000_000).IsAcquired);
    }

    /// <summary>
    /// The cost of rounding a permit's interval up to 1/256 of a tick, as docs/rate-limiting.md gives it: none at a
    /// million a second (2,560 units), 1.5 % at a hundred million (25.6 units served as 26), 15 % at a billion (2.56 as 3).
    /// </summary>
    [Theory]
    [InlineData(1_000_000, 1_000_000)]
    [InlineData(100_000_000, 98_461_538)]
    [InlineData(1_000_000_000, 853_333_333)]
    public void A_second_refills_the_permits_the_rounded_interval_gives(int rate, long refilled)
    {
        // A burst above a second's permits, so that the refill is not capped by it; emptied first.
        var burst = (int)Math.Min(2L * rate, 1_000_000_000);
        var time = new FakeTimeProvider();
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = rate, Burst = burst, TimeProvider = time });
        Assert.True(bucket.AttemptAcquire(burst).IsAcquired);

        time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(refilled, bucket.GetStatistics()!.CurrentAvailablePermits);
        Assert.False(bucket.AttemptAcquire((int)refilled + 1).IsAcquired);
        Assert.True(bucket.AttemptAcquire((int)refilled).IsAcquired);
    }

    [Fact]
    public async Task A_debt_kept_through_a_change_to_the_slowest_rate_stays_within_the_buckets_time()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1_000_000, Burst = 1000, MaxWait = TimeSpan.FromSeconds(1), TimeProvider = time });
        Assert.True(bucket.AttemptAcquire(1000).IsAcquired);
        var waiters = Enumerable.Range(0, 4).Select(_ => bucket.AcquireAsync(1000).AsTask()).ToArray();
        Assert.All(waiters, waiter => Assert.False(waiter.IsCompleted));

        // The 4,000 permits owed to the waiters are 126 years at one permit every 11.6 days: kept whole, they overflowed
        // the bucket's 64-bit time into a negative arrival, and every request after the change spun for ever.
        bucket.UpdateOptions(new TokenBucketLimiterOptions { PermitsPerSecond = 0.000001, Burst = 1, TimeProvider = time });
        using var refused = await Task.Run(() => bucket.AttemptAcquire()).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(refused.IsAcquired);

        // The debt is kept up to ten years of the new rate (as a full bucket refills within ten years), then the permit.
        Assert.True(refused.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter));
        Assert.InRange(retryAfter, TimeSpan.FromDays(3650) + TimeSpan.FromSeconds(1_000_000), TimeSpan.FromDays(3650) + TimeSpan.FromSeconds(1_000_001));

        time.Advance(TimeSpan.FromMilliseconds(4));
        foreach (var waiter in waiters)
        {
            Assert.True((await waiter.WaitAsync(TimeSpan.FromSeconds(30))).IsAcquired);
        }

        var statistics = bucket.GetStatistics()!;
        Assert.Equal((5, 1, 0), (statistics.TotalSuccessfulLeases, statistics.TotalFailedLeases, statistics.CurrentAvailablePermits));
    }

    [Fact]
    public void Permit_counts_past_the_burst_are_refused_as_the_documented_argument_error()
    {
        var time = new FakeTimeProvider();
        foreach (var burst in new[] { 1, 1_000_000_000 })
        {
            var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1e9, Burst = burst, TimeProvider = time });
            Assert.Throws<ArgumentOutOfRangeException>(() => bucket.AttemptAcquire(burst + 1));
            Assert.Throws<ArgumentOutOfRangeException>(() => bucket.AttemptAcquire(int.MaxValue));
            Assert.Throws<ArgumentOutOfRangeException>(() => bucket.AttemptAcquire(-1));
            Assert.True(bucket.AttemptAcquire(burst).IsAcquired);
            Assert.False(bucket.AttemptAcquire(burst).IsAcquired);
        }
    }
}
