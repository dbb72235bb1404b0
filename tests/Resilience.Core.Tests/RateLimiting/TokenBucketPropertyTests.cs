using System.Threading.RateLimiting;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.RateLimiting;

/// <summary>The token bucket's arithmetic, for any schedule of requests, on a fake clock.</summary>
public class TokenBucketPropertyTests
{
    private const string Seed = "(1145141919,2718281829)";

    private static (TokenBucketLimiter Bucket, FakeTimeProvider Time) Create(double rate, int burst)
    {
        var time = new FakeTimeProvider();
        return (new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = rate, Burst = burst, TimeProvider = time }), time);
    }

    private static double Rate(int raw) => new[] { 0.5, 1, 3, 10, 250, 1000 }[(raw & int.MaxValue) % 6];

    private static int Burst(int raw) => 1 + ((raw & int.MaxValue) % 20);

    /// <summary>
    /// How often continuous demand asks, so that no refill is lost to a full bucket: each ask drains the bucket below one
    /// permit, so a step that adds at most burst − 1 permits never fills it. A bucket of one permit is full as soon as a
    /// permit is there, and loses the gap between that instant and the next ask (the BCL's bucket does too): it is asked
    /// once per emission interval, rounded up to the clock's tick, which loses at most a tick per permit.
    /// </summary>
    private static TimeSpan DemandStep(double rate, int burst) =>
        burst == 1 ? TimeSpan.FromTicks((long)Math.Ceiling(TimeSpan.TicksPerSecond / rate)) : TimeSpan.FromSeconds(Math.Min(0.037, (burst - 1) / rate));

    [Property(MaxTest = 300, Replay = Seed)]
    public Property Never_more_than_burst_plus_rate_times_t_over_any_interval(int rateSeed, int burstSeed, int[] schedule)
    {
        var (rate, burst) = (Rate(rateSeed), Burst(burstSeed));
        var (bucket, time) = Create(rate, burst);
        var grants = new List<(long Ticks, int Permits)>();
        foreach (var step in schedule)
        {
            time.Advance(TimeSpan.FromMilliseconds((step & int.MaxValue) % 700));
            var permits = 1 + ((step >>> 10) & 3) % burst;
            if (bucket.AttemptAcquire(permits).IsAcquired)
            {
                grants.Add((time.GetTimestamp(), permits));
            }
        }

        for (var i = 0; i < grants.Count; i++)
        {
            var total = 0;
            for (var j = i; j < grants.Count; j++)
            {
                total += grants[j].Permits;
                var seconds = (double)(grants[j].Ticks - grants[i].Ticks) / TimeSpan.TicksPerSecond;
                if (total > burst + (rate * seconds) + 1e-6)
                {
                    return false.Label($"{total} permits in {seconds}s > {burst} + {rate}/s");
                }
            }
        }

        return true.ToProperty();
    }

    [Property(MaxTest = 200, Replay = Seed)]
    public Property Under_continuous_demand_at_least_rate_times_t_minus_one(int rateSeed, int burstSeed, PositiveInt steps)
    {
        var (rate, burst) = (Rate(rateSeed), Burst(burstSeed));
        var (bucket, time) = Create(rate, burst);
        while (bucket.AttemptAcquire(1).IsAcquired)
        {
        }

        var admitted = 0;
        var elapsed = TimeSpan.Zero;
        var step = DemandStep(rate, burst);
        for (var i = 0; i < Math.Min(steps.Get, 300); i++)
        {
            time.Advance(step);
            elapsed += step;
            while (bucket.AttemptAcquire(1).IsAcquired)
            {
                admitted++;
            }
        }

        var floor = (rate * elapsed.TotalSeconds) - 1;
        return (admitted >= floor).Label($"{admitted} < {floor}");
    }

    [Property(MaxTest = 300, Replay = Seed)]
    public Property Retry_after_is_never_early_and_exact(int rateSeed, int burstSeed, int[] schedule)
    {
        var (rate, burst) = (Rate(rateSeed), Burst(burstSeed));
        var (bucket, time) = Create(rate, burst);
        foreach (var step in schedule)
        {
            time.Advance(TimeSpan.FromMilliseconds((step & int.MaxValue) % 300));
            var permits = 1 + ((step >>> 9) & 7) % burst;
            using var lease = bucket.AttemptAcquire(permits);
            if (lease.IsAcquired)
            {
                continue;
            }

            if (!lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter))
            {
                return false.Label("a refused lease carries no retry-after");
            }

            if (retryAfter > TimeSpan.FromTicks(1))
            {
                time.Advance(retryAfter - TimeSpan.FromTicks(1));
                if (bucket.AttemptAcquire(permits).IsAcquired)
                {
                    return false.Label($"admitted one tick before retry-after {retryAfter}");
                }

                time.Advance(TimeSpan.FromTicks(1));
            }
            else
            {
                time.Advance(retryAfter);
            }

            if (!bucket.AttemptAcquire(permits).IsAcquired)
            {
                return false.Label($"refused at retry-after {retryAfter}");
            }
        }

        return true.ToProperty();
    }

    [Property(MaxTest = 200, Replay = Seed)]
    public Property Live_rate_change_keeps_both_bounds_from_the_change(int rateSeed, int newRateSeed, int burstSeed, int[] schedule)
    {
        var burst = Burst(burstSeed);
        var (bucket, time) = Create(Rate(rateSeed), burst);
        foreach (var raw in schedule.Take(schedule.Length / 2))
        {
            time.Advance(TimeSpan.FromMilliseconds((raw & int.MaxValue) % 500));
            bucket.AttemptAcquire(1);
        }

        var before = bucket.GetStatistics()!.CurrentAvailablePermits;
        var newRate = Rate(newRateSeed);
        bucket.UpdateOptions(new TokenBucketLimiterOptions { PermitsPerSecond = newRate, Burst = burst, TimeProvider = time });
        if (bucket.GetStatistics()!.CurrentAvailablePermits != before)
        {
            return false.Label("the change refilled or drained the bucket");
        }

        var start = time.GetTimestamp();
        var admitted = 0;
        var step = DemandStep(newRate, burst);
        for (var i = 0; i <= schedule.Length; i++)
        {
            while (bucket.AttemptAcquire(1).IsAcquired)
            {
                admitted++;
            }

            if (i < schedule.Length)
            {
                time.Advance(step);
            }
        }

        // A fraction of a permit may be in the bucket besides the whole ones counted before the change.
        var seconds = (double)(time.GetTimestamp() - start) / TimeSpan.TicksPerSecond;
        var ceiling = before + 1 + (newRate * seconds) + 1e-6;
        var floor = before + (newRate * seconds) - 1 - 1e-6;
        return (admitted <= ceiling && admitted >= floor).Label($"{admitted} outside [{floor}, {ceiling}]");
    }

    [Property(MaxTest = 300, Replay = Seed)]
    public Property Statistics_count_every_lease_across_live_changes_and_cancelled_waiters(int rateSeed, int burstSeed, int[] schedule)
    {
        // Leases are derived from the bucket's arrival time, not counted one by one: any schedule of single and
        // multi-permit acquisitions, idle time, live rate and burst changes, and cancelled waiters must still add up.
        var burst = Burst(burstSeed);
        var (bucket, time) = Create(Rate(rateSeed), burst);
        long leases = 0, failures = 0;
        foreach (var step in schedule)
        {
            var kind = (step & int.MaxValue) % 10;
            if (kind < 6)
            {
                time.Advance(TimeSpan.FromMilliseconds((step >>> 4) % 400));
                var permits = 1 + ((step >>> 12) & 3) % burst;
                if (bucket.AttemptAcquire(permits).IsAcquired)
                {
                    leases++;
                }
                else
                {
                    failures++;
                }
            }
            else if (kind < 8)
            {
                burst = Burst(step >>> 8);
                bucket.UpdateOptions(new TokenBucketLimiterOptions
                {
                    PermitsPerSecond = Rate(step >>> 16),
                    Burst = burst,
                    MaxWait = TimeSpan.FromSeconds(30),
                    TimeProvider = time,
                });
            }
            else
            {
                // A waiter that is cancelled before its slot: its reservation is given back or stays spent, unleased.
                using var cancel = new CancellationTokenSource();
                var waiter = bucket.AcquireAsync(1, cancel.Token).AsTask();
                if (waiter.IsCompleted)
                {
                    if (waiter.Result.IsAcquired)
                    {
                        leases++;
                    }
                    else
                    {
                        failures++;
                    }

                    continue;
                }

                // Another waiter may reserve after this one, so that its slot cannot be given back.
                var next = kind == 9 ? bucket.AcquireAsync(1).AsTask() : null;
                cancel.Cancel();
                SpinWait.SpinUntil(() => waiter.IsCompleted, TimeSpan.FromSeconds(30));
                if (!waiter.IsCanceled)
                {
                    return false.Label("a cancelled waiter was not cancelled");
                }

                // No lease, so no failed lease: nothing to count.
                if (next is not null)
                {
                    time.Advance(TimeSpan.FromSeconds(31));
                    SpinWait.SpinUntil(() => next.IsCompleted, TimeSpan.FromSeconds(30));
                    if (next.Result.IsAcquired)
                    {
                        leases++;
                    }
                    else
                    {
                        failures++;
                    }
                }
            }
        }

        var statistics = bucket.GetStatistics()!;
        return (statistics.TotalSuccessfulLeases == leases && statistics.TotalFailedLeases == failures)
            .Label($"statistics {statistics.TotalSuccessfulLeases}/{statistics.TotalFailedLeases}, counted {leases}/{failures}");
    }
}
