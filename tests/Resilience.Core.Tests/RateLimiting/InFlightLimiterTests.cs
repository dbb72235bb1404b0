using System.Threading.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.RateLimiting;

public class InFlightLimiterTests
{
    [Fact]
    public async Task Concurrently_held_leases_never_exceed_the_limit_under_real_threads()
    {
        const int Limit = 8;
        var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = Limit, QueueLimit = 64 });
        var held = 0;
        var maxHeld = 0;
        var admitted = 0;
        var refused = 0;

        var tasks = Enumerable.Range(0, 64).Select(t => Task.Run(async () =>
        {
            var random = new Random(t);
            for (var i = 0; i < 200; i++)
            {
                using var lease = i % 2 == 0 ? limiter.AttemptAcquire() : await limiter.AcquireAsync();
                if (!lease.IsAcquired)
                {
                    Interlocked.Increment(ref refused);
                    continue;
                }

                Interlocked.Increment(ref admitted);
                var now = Interlocked.Increment(ref held);
                InterlockedMax(ref maxHeld, now);
                if (random.Next(4) == 0)
                {
                    await Task.Yield();
                }
                else
                {
                    Thread.SpinWait(random.Next(50));
                }

                Interlocked.Decrement(ref held);
            }
        }));
        await Task.WhenAll(tasks);

        Assert.InRange(maxHeld, 1, Limit);
        Assert.Equal(64 * 200, admitted + refused);
        var statistics = limiter.GetStatistics()!;
        Assert.Equal(Limit, statistics.CurrentAvailablePermits);
        Assert.Equal(admitted, statistics.TotalSuccessfulLeases);
        Assert.Equal(refused, statistics.TotalFailedLeases);
    }

    [Fact]
    public async Task Every_queued_acquire_ends_admitted_rejected_or_cancelled()
    {
        var time = new FakeTimeProvider();
        var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 2, QueueLimit = 10, QueueTimeout = TimeSpan.FromSeconds(5), TimeProvider = time });
        var holders = new[] { limiter.AttemptAcquire(), limiter.AttemptAcquire() };
        using var cancel = new CancellationTokenSource();

        var waiters = Enumerable.Range(0, 14).Select(i => limiter.AcquireAsync(1, i % 3 == 0 ? cancel.Token : default).AsTask()).ToList();
        Assert.Equal(10, limiter.GetStatistics()!.CurrentQueuedCount);
        cancel.Cancel();
        holders[0].Dispose();
        time.Advance(TimeSpan.FromSeconds(5));
        holders[1].Dispose();
        await Task.WhenAll(waiters.Select(w => w.ContinueWith(_ => { }, TaskScheduler.Default)));

        var results = new List<RateLimitLease>();
        foreach (var w in waiters.Where(w => w.IsCompletedSuccessfully))
        {
            results.Add(await w);
        }

        var admitted = results.Count(r => r.IsAcquired);
        var rejected = results.Count(r => !r.IsAcquired);
        var cancelled = waiters.Count(w => w.IsCanceled);
        Assert.Equal(14, admitted + rejected + cancelled);
        Assert.True(cancelled > 0);
        Assert.True(rejected >= 4);
        Assert.Equal(0, limiter.GetStatistics()!.CurrentQueuedCount);
        foreach (var w in waiters.Where(w => w.IsCompletedSuccessfully))
        {
            (await w).Dispose();
        }

        Assert.Equal(2, limiter.GetStatistics()!.CurrentAvailablePermits);
    }

    [Fact]
    public async Task Fifo_serves_the_oldest_and_refuses_newcomers_when_full()
    {
        var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 2 });
        var holder = limiter.AttemptAcquire();
        var first = limiter.AcquireAsync().AsTask();
        var second = limiter.AcquireAsync().AsTask();
        var third = limiter.AcquireAsync().AsTask();

        Assert.False((await third).IsAcquired);
        holder.Dispose();
        var lease = await first;
        Assert.True(lease.IsAcquired);
        Assert.False(second.IsCompleted);
        lease.Dispose();
        (await second).Dispose();
    }

    // The BCL's ConcurrencyLimiter leaves the waiter behind asleep until the next release (its conformance counterpart
    // would pass for ours only): with permits held for long, the free permit would sit unused meanwhile.
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_waiter_that_leaves_the_head_of_the_queue_lets_the_next_one_take_the_free_permits(bool cancelled)
    {
        var time = new FakeTimeProvider();
        var limiter = new InFlightLimiter(new InFlightLimiterOptions
        {
            PermitLimit = 3, QueueLimit = 5, QueueTimeout = cancelled ? null : TimeSpan.FromSeconds(1), TimeProvider = time,
        });
        using var held = limiter.AttemptAcquire(2);
        using var cancel = new CancellationTokenSource();
        var head = limiter.AcquireAsync(2, cancel.Token).AsTask();
        var next = limiter.AcquireAsync(1).AsTask();
        Assert.False(next.IsCompleted);

        if (cancelled)
        {
            cancel.Cancel();
            await Assert.ThrowsAsync<TaskCanceledException>(() => head);
        }
        else
        {
            // Both time out at once unless served: the next waiter must be served by the head's leaving, not time out.
            time.Advance(TimeSpan.FromSeconds(1));
            Assert.False((await head.WaitAsync(TimeSpan.FromSeconds(30))).IsAcquired);
        }

        using var lease = await next.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(lease.IsAcquired);
        Assert.Equal(0, limiter.GetStatistics()!.CurrentAvailablePermits);
    }

    [Fact]
    public async Task Lifo_serves_the_newest_and_drops_the_oldest_when_full()
    {
        var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 2, QueueProcessingOrder = QueueProcessingOrder.NewestFirst });
        var holder = limiter.AttemptAcquire();
        var first = limiter.AcquireAsync().AsTask();
        var second = limiter.AcquireAsync().AsTask();
        var third = limiter.AcquireAsync().AsTask();

        Assert.False((await first).IsAcquired);
        holder.Dispose();
        var lease = await third;
        Assert.True(lease.IsAcquired);
        Assert.False(second.IsCompleted);
        lease.Dispose();
        (await second).Dispose();
        Assert.Equal(1, limiter.GetStatistics()!.TotalFailedLeases);
    }

    [Fact]
    public async Task Zero_permit_requests_are_counted_but_do_not_restart_the_idle_time()
    {
        var time = new FakeTimeProvider();
        var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1, TimeProvider = time });
        time.Advance(TimeSpan.FromSeconds(5));

        Assert.True(limiter.AttemptAcquire(0).IsAcquired);
        using (var probe = await limiter.AcquireAsync(0))
        {
            Assert.True(probe.IsAcquired);
        }

        Assert.Equal(TimeSpan.FromSeconds(5), limiter.IdleDuration);
        Assert.Equal(2, limiter.GetStatistics()!.TotalSuccessfulLeases);
    }

    [Fact]
    public void Lease_disposed_twice_releases_once()
    {
        var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 2 });
        var lease = limiter.AttemptAcquire(2);
        var other = limiter.AttemptAcquire();

        lease.Dispose();
        lease.Dispose();

        Assert.False(other.IsAcquired);
        Assert.Equal(2, limiter.GetStatistics()!.CurrentAvailablePermits);
        Assert.True(limiter.AttemptAcquire(2).IsAcquired);
        Assert.Equal(0, limiter.GetStatistics()!.CurrentAvailablePermits);
    }

    [Fact]
    public async Task Raising_the_limit_admits_waiters_and_lowering_it_lets_in_flight_work_finish()
    {
        var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 2, QueueLimit = 5 });
        var held = new List<RateLimitLease> { limiter.AttemptAcquire(), limiter.AttemptAcquire() };
        var waiter = limiter.AcquireAsync().AsTask();

        limiter.UpdateOptions(new InFlightLimiterOptions { PermitLimit = 3, QueueLimit = 5 });
        held.Add(await waiter);
        Assert.True(held[^1].IsAcquired);

        limiter.UpdateOptions(new InFlightLimiterOptions { PermitLimit = 1 });
        Assert.False(limiter.AttemptAcquire().IsAcquired);
        held[0].Dispose();
        held[1].Dispose();
        Assert.False(limiter.AttemptAcquire().IsAcquired);
        held[2].Dispose();
        Assert.True(limiter.AttemptAcquire().IsAcquired);
    }

    [Fact]
    public void Idle_duration_follows_the_bcl_contract_and_validation_names_the_option()
    {
        var time = new FakeTimeProvider();
        var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, TimeProvider = time });
        time.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(TimeSpan.FromSeconds(3), limiter.IdleDuration);
        var lease = limiter.AttemptAcquire();
        Assert.Null(limiter.IdleDuration);
        lease.Dispose();
        Assert.Equal(TimeSpan.Zero, limiter.IdleDuration);
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(TimeSpan.FromSeconds(2), limiter.IdleDuration);

        // Releasing reads no clock: idleness after unobserved activity counts from the first reading, never earlier.
        limiter.AttemptAcquire().Dispose();
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(TimeSpan.Zero, limiter.IdleDuration);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(TimeSpan.FromSeconds(1), limiter.IdleDuration);

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 0 }));
        Assert.Contains("InFlightLimiterOptions.PermitLimit must be in [1, 2147483647]; was 0.", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => limiter.AttemptAcquire(2));
    }

    [Theory]
    [InlineData((1L << 31) - 2)]
    [InlineData((1L << 32) - 2)]
    [InlineData((3L << 32) - 1)]
    public async Task Successful_leases_are_counted_exactly_across_the_state_words_laps(long start)
    {
        var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1 }, start);
        Assert.Equal(start, limiter.GetStatistics()!.TotalSuccessfulLeases);

        // Fast path, across the boundary.
        limiter.AttemptAcquire().Dispose();
        limiter.AttemptAcquire().Dispose();
        Assert.Equal(start + 2, limiter.GetStatistics()!.TotalSuccessfulLeases);

        // Queue path: a waiter admitted by a release is counted once, and the queue's flag is lowered after it.
        var holder = limiter.AttemptAcquire();
        var waiting = limiter.AcquireAsync();
        Assert.False(waiting.IsCompleted);
        Assert.False(limiter.AttemptAcquire().IsAcquired);
        holder.Dispose();
        (await waiting).Dispose();
        var fast = limiter.AttemptAcquire();
        Assert.True(fast.IsAcquired);
        fast.Dispose();

        // A cancelled waiter is not counted, and the flag is lowered with it.
        holder = limiter.AttemptAcquire();
        using var cancel = new CancellationTokenSource();
        var cancelled = limiter.AcquireAsync(1, cancel.Token);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await cancelled);
        holder.Dispose();
        limiter.AttemptAcquire().Dispose();

        var statistics = limiter.GetStatistics()!;
        Assert.Equal(start + 7, statistics.TotalSuccessfulLeases);

        // The refused attempt; the cancelled waiter got no lease, so no failed one either.
        Assert.Equal(1, statistics.TotalFailedLeases);
        Assert.Equal(1, statistics.CurrentAvailablePermits);
    }

    [Fact]
    public async Task Waiters_failed_by_disposal_are_counted_as_failed_leases_as_the_token_bucket_counts_them()
    {
        var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 4 });
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions
        {
            PermitsPerSecond = 1, Burst = 1, MaxWait = TimeSpan.FromHours(1), TimeProvider = new FakeTimeProvider(),
        });
        using var held = limiter.AttemptAcquire();
        Assert.True(bucket.AttemptAcquire().IsAcquired);
        var waiting = new[] { limiter.AcquireAsync(), limiter.AcquireAsync(), bucket.AcquireAsync(), bucket.AcquireAsync() };
        Assert.All(waiting, task => Assert.False(task.IsCompleted));

        limiter.Dispose();
        bucket.Dispose();

        foreach (var task in waiting)
        {
            Assert.False((await task.AsTask().WaitAsync(TimeSpan.FromSeconds(30))).IsAcquired);
        }

        Assert.Equal(2, bucket.GetStatistics()!.TotalFailedLeases);
        Assert.Equal(2, limiter.GetStatistics()!.TotalFailedLeases);
    }

    [Fact]
    public void The_largest_limit_fits_beside_the_waiting_flag()
    {
        var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = int.MaxValue });
        var all = limiter.AttemptAcquire(int.MaxValue);
        Assert.True(all.IsAcquired);
        Assert.Equal(0, limiter.GetStatistics()!.CurrentAvailablePermits);
        Assert.False(limiter.AttemptAcquire().IsAcquired);
        all.Dispose();

        // Had the permits spilled into the flag, the fast path would now refuse as if someone waited.
        var again = limiter.AttemptAcquire(int.MaxValue);
        Assert.True(again.IsAcquired);
        again.Dispose();
        Assert.Equal(2, limiter.GetStatistics()!.TotalSuccessfulLeases);
    }

    [Theory]
    [InlineData(QueueProcessingOrder.OldestFirst)]
    [InlineData(QueueProcessingOrder.NewestFirst)]
    public async Task A_full_queue_of_the_largest_limits_refuses_a_request_whose_permits_would_overflow_the_count(QueueProcessingOrder order)
    {
        var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = int.MaxValue, QueueLimit = int.MaxValue, QueueProcessingOrder = order });
        using var held = limiter.AttemptAcquire(1);
        var first = limiter.AcquireAsync(int.MaxValue).AsTask();
        Assert.False(first.IsCompleted);

        // The queue holds int.MaxValue permits: another int.MaxValue fit only by evicting the first (newest first), never
        // by wrapping the count of queued permits past int.MaxValue into a negative that looks like room.
        var second = limiter.AcquireAsync(int.MaxValue).AsTask();
        var statistics = limiter.GetStatistics()!;
        Assert.Equal(int.MaxValue, statistics.CurrentQueuedCount);
        Assert.Equal(1, statistics.TotalFailedLeases);
        var refused = order == QueueProcessingOrder.OldestFirst ? second : first;
        Assert.True(refused.IsCompleted);
        Assert.False((await refused).IsAcquired);
        Assert.False((order == QueueProcessingOrder.OldestFirst ? first : second).IsCompleted);
        limiter.Dispose();
    }

    [Theory]
    [InlineData(QueueProcessingOrder.OldestFirst)]
    [InlineData(QueueProcessingOrder.NewestFirst)]
    public async Task A_waiter_asking_for_more_than_a_lowered_limit_fails_at_once_and_blocks_no_one(QueueProcessingOrder order)
    {
        var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 4, QueueLimit = 4, QueueProcessingOrder = order });
        var held = limiter.AttemptAcquire(4);
        var small = limiter.AcquireAsync(1).AsTask();
        var large = limiter.AcquireAsync(3).AsTask();
        var smallest = limiter.AcquireAsync(0).AsTask();
        Assert.False(large.IsCompleted);

        // Three permits can never be held at once under a limit of two: waiting for them would hold the queue forever.
        limiter.UpdateOptions(new InFlightLimiterOptions { PermitLimit = 2, QueueLimit = 4, QueueProcessingOrder = order });
        Assert.True(large.IsCompleted);
        Assert.False((await large).IsAcquired);
        Assert.False(small.IsCompleted);
        Assert.Equal(1, limiter.GetStatistics()!.CurrentQueuedCount);

        held.Dispose();
        using var served = await small.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(served.IsAcquired);
        Assert.True((await smallest.WaitAsync(TimeSpan.FromSeconds(30))).IsAcquired);
        var statistics = limiter.GetStatistics()!;
        Assert.Equal((0, 1, 3), (statistics.CurrentQueuedCount, statistics.TotalFailedLeases, statistics.TotalSuccessfulLeases));
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
