using System.Threading.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.RateLimiting;

public class TokenBucketLimiterTests
{
    [Fact]
    public void Two_threads_on_one_bucket_admit_exactly_what_the_arithmetic_allows()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1000, Burst = 50_000, TimeProvider = time });
        var admitted = 0;
        using var start = new Barrier(2);

        var workers = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < 100_000; i++)
            {
                if (bucket.AttemptAcquire().IsAcquired)
                {
                    Interlocked.Increment(ref admitted);
                }

                if (i == 50_000)
                {
                    time.Advance(TimeSpan.FromSeconds(1));
                }
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());

        // The burst, plus what one or two seconds of refill added while the threads ran (each thread advanced the clock once).
        Assert.Equal(50_000 + 2_000, admitted);
        Assert.Equal(admitted, bucket.GetStatistics()!.TotalSuccessfulLeases);
        Assert.Equal(200_000 - admitted, bucket.GetStatistics()!.TotalFailedLeases);
    }

    [Fact]
    public void Leases_add_up_while_two_threads_acquire_and_a_third_changes_the_rate_live()
    {
        // The statistics derive leases from the arrival time; live changes rebase it while calls race them.
        var time = new FakeTimeProvider();
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1000, Burst = 500, TimeProvider = time });
        var admitted = 0L;
        var refused = 0L;
        var running = 2;
        var rounds = 0;
        using var start = new Barrier(3);
        var callers = Enumerable.Range(0, 2).Select(id => new Thread(() =>
        {
            start.SignalAndWait();

            // On a loaded machine the callers can run their share before the changer runs at all, or while it is
            // descheduled: they go on (bounded) until refills have certainly been taken, more than the largest burst
            // (600) could hold, and the changer has changed the rate a few times.
            for (var i = 0; i < 100_000 || ((Interlocked.Read(ref admitted) <= 1_000 || Volatile.Read(ref rounds) < 50) && i < 200_000_000); i++)
            {
                if (bucket.AttemptAcquire(1 + ((i + id) % 3 == 0 ? 1 : 0)).IsAcquired)
                {
                    Interlocked.Increment(ref admitted);
                }
                else
                {
                    Interlocked.Increment(ref refused);
                }
            }

            Interlocked.Decrement(ref running);
        })).ToList();
        var changer = new Thread(() =>
        {
            start.SignalAndWait();
            for (var round = 0; Volatile.Read(ref running) > 0 && round < 1_000_000; round++)
            {
                time.Advance(TimeSpan.FromMilliseconds(7));
                bucket.UpdateOptions(new TokenBucketLimiterOptions { PermitsPerSecond = round % 2 == 0 ? 3000 : 700, Burst = 200 + (round % 5 * 100), TimeProvider = time });
                _ = bucket.GetStatistics();
                Volatile.Write(ref rounds, round + 1);
            }
        });
        callers.ForEach(t => t.Start());
        changer.Start();
        callers.ForEach(t => t.Join());
        changer.Join();

        var statistics = bucket.GetStatistics()!;
        Assert.True(admitted > 1_000, $"only {admitted} admitted: the test did not exercise refills");
        Assert.Equal(admitted, statistics.TotalSuccessfulLeases);
        Assert.Equal(refused, statistics.TotalFailedLeases);
    }

    [Fact]
    public async Task Leases_add_up_and_never_fall_while_waiters_are_served_cancelled_and_the_rate_changes_under_real_threads()
    {
        // Waiters book their permits apart until they are served or give their slots back: two callers acquire, wait,
        // cancel and move the clock (so that refills come however the threads are scheduled) while a third thread changes
        // the rate and checks that the count of leases only grows.
        var time = new FakeTimeProvider();
        var options = new TokenBucketLimiterOptions { PermitsPerSecond = 1000, Burst = 20, MaxWait = TimeSpan.FromMilliseconds(50), TimeProvider = time };
        var bucket = new TokenBucketLimiter(options);
        long granted = 0, refused = 0, fell = 0;
        var running = 2;
        var waiters = new System.Collections.Concurrent.ConcurrentQueue<Task<RateLimitLease>>();
        using var start = new Barrier(3);
        var callers = Enumerable.Range(0, 2).Select(id => new Thread(() =>
        {
            var random = new Random(id);
            start.SignalAndWait();
            for (var i = 0; i < 20_000; i++)
            {
                if (i % 50 == 0)
                {
                    time.Advance(TimeSpan.FromMilliseconds(1));
                }

                var permits = 1 + random.Next(2);
                if (random.Next(2) == 0)
                {
                    Interlocked.Increment(ref bucket.AttemptAcquire(permits).IsAcquired ? ref granted : ref refused);
                    continue;
                }

                using var cancel = new CancellationTokenSource();
                var waiter = bucket.AcquireAsync(permits, cancel.Token).AsTask();
                if (random.Next(2) == 0)
                {
                    cancel.Cancel();
                }

                waiters.Enqueue(waiter);
            }

            Interlocked.Decrement(ref running);
        })).ToList();
        var changer = new Thread(() =>
        {
            start.SignalAndWait();
            var last = 0L;
            for (var round = 0; Volatile.Read(ref running) > 0 && round < 10_000_000; round++)
            {
                if (round % 16 == 0)
                {
                    bucket.UpdateOptions(new TokenBucketLimiterOptions
                    {
                        PermitsPerSecond = round % 32 == 0 ? 700 : 1500, Burst = 20, MaxWait = options.MaxWait, TimeProvider = time,
                    });
                }

                var leases = bucket.GetStatistics()!.TotalSuccessfulLeases;
                if (leases < last)
                {
                    Interlocked.Increment(ref fell);
                }

                last = leases;
            }
        });
        callers.ForEach(t => t.Start());
        changer.Start();
        callers.ForEach(t => t.Join());
        changer.Join();

        // Every waiter still sleeping wakes within the maximum wait.
        time.Advance(TimeSpan.FromSeconds(1));
        var cancelled = 0;
        foreach (var waiter in waiters)
        {
            try
            {
                Interlocked.Increment(ref (await waiter.WaitAsync(TimeSpan.FromSeconds(30))).IsAcquired ? ref granted : ref refused);
            }
            catch (OperationCanceledException)
            {
                cancelled++;
            }
        }

        var statistics = bucket.GetStatistics()!;
        Assert.True(cancelled > 100, $"only {cancelled} waiters cancelled: the test did not exercise giving slots back");
        Assert.Equal((0L, granted, refused), (fell, statistics.TotalSuccessfulLeases, statistics.TotalFailedLeases));
    }

    [Fact]
    public async Task Queued_count_is_the_permits_waited_for_as_the_bcl_reports_it()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 2, MaxWait = TimeSpan.FromSeconds(5), TimeProvider = time });
        Assert.True(bucket.AttemptAcquire(2).IsAcquired);

        var waiting = bucket.AcquireAsync(2).AsTask();
        Assert.Equal(2, bucket.GetStatistics()!.CurrentQueuedCount);
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.True((await waiting).IsAcquired);
        Assert.Equal(0, bucket.GetStatistics()!.CurrentQueuedCount);
    }

    [Fact]
    public async Task Waiter_reserves_its_slot_and_a_cancelled_waiter_gives_it_back()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 1, MaxWait = TimeSpan.FromSeconds(5), TimeProvider = time });
        Assert.True(bucket.AttemptAcquire().IsAcquired);

        using var cancel = new CancellationTokenSource();
        var cancelled = bucket.AcquireAsync(1, cancel.Token).AsTask();
        Assert.Equal(1, bucket.GetStatistics()!.CurrentQueuedCount);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);

        var waiting = bucket.AcquireAsync().AsTask();
        Assert.False(waiting.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True((await waiting).IsAcquired);
        Assert.Equal(0, bucket.GetStatistics()!.CurrentQueuedCount);

        // The cancelled waiter got no lease, so no failed one either.
        Assert.Equal(0, bucket.GetStatistics()!.TotalFailedLeases);
    }

    [Fact]
    public async Task Acquire_async_fails_at_once_beyond_the_maximum_wait_with_retry_after()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 0.5, Burst = 1, MaxWait = TimeSpan.FromSeconds(1), TimeProvider = time });
        bucket.AttemptAcquire();

        var lease = await bucket.AcquireAsync();

        Assert.False(lease.IsAcquired);
        Assert.True(lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter));
        Assert.Equal(TimeSpan.FromSeconds(2), retryAfter);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_waiter_is_a_successful_lease_once_served_not_while_it_waits_nor_once_cancelled(bool slotGivenBack)
    {
        // As the BCL's limiters count: a queued request is a successful lease when it is granted; one cancelled is none.
        var time = new FakeTimeProvider();
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 3, MaxWait = TimeSpan.FromSeconds(10), TimeProvider = time });
        Assert.True(bucket.AttemptAcquire(3).IsAcquired);

        using var cancel = new CancellationTokenSource();
        var cancelled = bucket.AcquireAsync(2, cancel.Token).AsTask();

        // A later waiter reserves after the first, so that the first's slot cannot be given back.
        var served = slotGivenBack ? null : bucket.AcquireAsync(1).AsTask();
        Assert.False(cancelled.IsCompleted);
        Assert.Equal(1, bucket.GetStatistics()!.TotalSuccessfulLeases);

        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(1, bucket.GetStatistics()!.TotalSuccessfulLeases);

        if (served is null)
        {
            // The two permits came back: they are there two seconds on.
            time.Advance(TimeSpan.FromSeconds(2));
            Assert.True(bucket.AttemptAcquire(2).IsAcquired);
        }
        else
        {
            time.Advance(TimeSpan.FromSeconds(3));
            Assert.True((await served.WaitAsync(TimeSpan.FromSeconds(30))).IsAcquired);
        }

        var statistics = bucket.GetStatistics()!;
        Assert.Equal((2, 0), (statistics.TotalSuccessfulLeases, statistics.TotalFailedLeases));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task A_live_change_keeps_the_permits_waiters_reserved(double newRate)
    {
        var time = new FakeTimeProvider();
        var options = new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 1, MaxWait = TimeSpan.FromSeconds(10), TimeProvider = time };
        var bucket = new TokenBucketLimiter(options);
        Assert.True(bucket.AttemptAcquire().IsAcquired);
        var waiters = new[] { bucket.AcquireAsync().AsTask(), bucket.AcquireAsync().AsTask(), bucket.AcquireAsync().AsTask() };
        Assert.All(waiters, waiter => Assert.False(waiter.IsCompleted));

        // The bucket owes three permits (the waiters' slots at 1, 2 and 3 s): a change, even to the same options, keeps
        // that debt (at the new rate) instead of starting from an empty bucket that would refill under the waiters.
        options.PermitsPerSecond = newRate;
        bucket.UpdateOptions(options);
        var refused = bucket.AttemptAcquire();
        Assert.False(refused.IsAcquired);
        Assert.True(refused.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter));
        Assert.Equal(TimeSpan.FromSeconds(4 / newRate), retryAfter);
        Assert.Null(bucket.IdleDuration);

        time.Advance(TimeSpan.FromSeconds(3));
        foreach (var waiter in waiters)
        {
            Assert.True((await waiter.WaitAsync(TimeSpan.FromSeconds(30))).IsAcquired);
        }

        // At the same rate the debt is paid at 4 s; at twice the rate the bucket paid it at 2 s and has a permit again.
        Assert.Equal(newRate == 1 ? 0 : 1, bucket.GetStatistics()!.CurrentAvailablePermits);
        Assert.Equal(4, bucket.GetStatistics()!.TotalSuccessfulLeases);
    }

    [Fact]
    public async Task A_waiter_cancelled_after_a_rate_change_gives_back_nothing_measured_at_the_old_rate()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 2, MaxWait = TimeSpan.FromSeconds(10), TimeProvider = time });
        Assert.True(bucket.AttemptAcquire(2).IsAcquired);
        using var cancel = new CancellationTokenSource();
        var waiter = bucket.AcquireAsync(1, cancel.Token).AsTask();
        Assert.False(waiter.IsCompleted);

        // The waiter's permit of debt becomes one permit at the new rate; here the rebased arrival time happens to be the
        // very value the waiter reserved. Its slot, one second of the old rate, is two permits at the new one: given back,
        // it would hand out a permit nobody returned, and take a lease off the count.
        bucket.UpdateOptions(new TokenBucketLimiterOptions { PermitsPerSecond = 2, Burst = 5, MaxWait = TimeSpan.FromSeconds(10), TimeProvider = time });
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiter.WaitAsync(TimeSpan.FromSeconds(30)));

        var refused = bucket.AttemptAcquire();
        Assert.False(refused.IsAcquired);
        Assert.True(refused.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter));
        Assert.Equal(TimeSpan.FromSeconds(1), retryAfter);
        var statistics = bucket.GetStatistics()!;
        Assert.Equal((1, 1), (statistics.TotalSuccessfulLeases, statistics.TotalFailedLeases));
    }

    [Fact]
    public void A_burst_that_would_take_over_ten_years_to_refill_is_refused_rather_than_overflowing_the_bucket()
    {
        // Each option is in its range, but a full bucket of 10,000 permits at one per 11.6 days is 3,170 years of the
        // bucket's 64-bit time: it must be refused, naming the options, not wrapped into a bucket of another size.
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 0.000001, Burst = 10_000 }));
        Assert.Contains("TokenBucketLimiterOptions.Burst must be at most PermitsPerSecond × 315360000", error.Message, StringComparison.Ordinal);
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions());
        Assert.Throws<ArgumentOutOfRangeException>(() => bucket.UpdateOptions(new TokenBucketLimiterOptions { PermitsPerSecond = 0.000001, Burst = 10_000 }));
        Assert.Equal(100, bucket.Options.Burst);

        // Nearly ten years to refill: the bucket holds its whole burst and refuses the next permit for exactly its interval.
        var time = new FakeTimeProvider();
        var slow = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 0.00001, Burst = 3_000, TimeProvider = time });
        Assert.True(slow.AttemptAcquire(3_000).IsAcquired);
        var refused = slow.AttemptAcquire();
        Assert.True(refused.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter));
        Assert.Equal(TimeSpan.FromSeconds(100_000), retryAfter);
    }

    [Fact]
    public void Idle_duration_statistics_and_contract()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 10, Burst = 5, TimeProvider = time });
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(TimeSpan.FromSeconds(2), bucket.IdleDuration);

        bucket.AttemptAcquire(3);
        Assert.Null(bucket.IdleDuration);
        Assert.Equal(2, bucket.GetStatistics()!.CurrentAvailablePermits);
        time.Advance(TimeSpan.FromMilliseconds(300));
        Assert.Equal(TimeSpan.Zero, bucket.IdleDuration);
        Assert.True(bucket.IsAutoReplenishing);
        Assert.False(bucket.TryReplenish());
        Assert.Equal(TimeSpan.FromMilliseconds(100), bucket.ReplenishmentPeriod);
        Assert.Throws<ArgumentOutOfRangeException>(() => bucket.AttemptAcquire(6));
        Assert.True(bucket.AttemptAcquire(0).IsAcquired);
    }

    [Theory]
    [InlineData(nameof(TokenBucketLimiterOptions.PermitsPerSecond), "must be in [1E-06, 1000000000]")]
    [InlineData(nameof(TokenBucketLimiterOptions.Burst), "must be in [1, 1000000000]")]
    [InlineData(nameof(TokenBucketLimiterOptions.MaxWait), "must be in [00:00:00, 1.00:00:00]")]
    public void Validation_names_the_option_and_its_range(string option, string range)
    {
        var options = new TokenBucketLimiterOptions();
        switch (option)
        {
            case nameof(TokenBucketLimiterOptions.PermitsPerSecond): options.PermitsPerSecond = 0; break;
            case nameof(TokenBucketLimiterOptions.Burst): options.Burst = 0; break;
            default: options.MaxWait = TimeSpan.FromSeconds(-1); break;
        }

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new TokenBucketLimiter(options));

        Assert.Contains($"TokenBucketLimiterOptions.{option} {range}", error.Message, StringComparison.Ordinal);
    }
}
