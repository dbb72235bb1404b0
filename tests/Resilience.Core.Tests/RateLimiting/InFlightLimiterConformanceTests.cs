using System.Threading.RateLimiting;

namespace Resilience.Tests.RateLimiting;

/// <summary>
/// The <see cref="RateLimiter"/> contract as the BCL's <see cref="ConcurrencyLimiter"/> keeps it: every scenario runs
/// against the BCL's limiter and against <see cref="InFlightLimiter"/> with the same options, so a scenario that passes
/// for one and fails for the other is a difference a caller switching between them would meet.
/// </summary>
public class InFlightLimiterConformanceTests
{
    public static TheoryData<string> Limiters => new() { "bcl", "ours" };

    [Theory]
    [MemberData(nameof(Limiters))]
    public async Task Newest_first_arrivals_take_free_permits_past_a_larger_waiting_request(string kind)
    {
        using var limiter = Create(kind, permitLimit: 3, queueLimit: 4, QueueProcessingOrder.NewestFirst);
        var held = limiter.AttemptAcquire(2);
        var large = limiter.AcquireAsync(2);
        Assert.False(large.IsCompleted);

        var attempted = limiter.AttemptAcquire(1);
        Assert.True(attempted.IsAcquired);
        attempted.Dispose();
        Assert.False(large.IsCompleted);

        var awaited = limiter.AcquireAsync(1);
        Assert.True(awaited.IsCompleted);
        using (var lease = await Served(awaited))
        {
            Assert.True(lease.IsAcquired);
        }

        Assert.False(large.IsCompleted);
        held.Dispose();
        using var served = await Served(large);
        Assert.True(served.IsAcquired);
        Assert.Equal(4, limiter.GetStatistics()!.TotalSuccessfulLeases);
    }

    [Theory]
    [MemberData(nameof(Limiters))]
    public async Task Oldest_first_arrivals_queue_behind_a_waiting_request(string kind)
    {
        using var limiter = Create(kind, permitLimit: 3, queueLimit: 4, QueueProcessingOrder.OldestFirst);
        var held = limiter.AttemptAcquire(2);
        var large = limiter.AcquireAsync(2);

        var attempted = limiter.AttemptAcquire(1);
        Assert.False(attempted.IsAcquired);
        var small = limiter.AcquireAsync(1);
        Assert.False(small.IsCompleted);
        Assert.False(large.IsCompleted);

        held.Dispose();
        using var first = await Served(large);
        using var second = await Served(small);
        Assert.True(first.IsAcquired);
        Assert.True(second.IsAcquired);
        Assert.Equal(0, limiter.GetStatistics()!.CurrentAvailablePermits);
    }

    [Theory]
    [MemberData(nameof(Limiters))]
    public async Task Newest_first_evicts_as_many_oldest_waiters_as_the_newcomer_needs(string kind)
    {
        using var limiter = Create(kind, permitLimit: 2, queueLimit: 2, QueueProcessingOrder.NewestFirst);
        var held = limiter.AttemptAcquire(2);
        var oldest = limiter.AcquireAsync(1);
        var older = limiter.AcquireAsync(1);
        Assert.False(oldest.IsCompleted);
        Assert.False(older.IsCompleted);

        var newest = limiter.AcquireAsync(2);
        Assert.False((await Served(oldest)).IsAcquired);
        Assert.False((await Served(older)).IsAcquired);
        Assert.False(newest.IsCompleted);
        var statistics = limiter.GetStatistics()!;
        Assert.Equal(2, statistics.CurrentQueuedCount);
        Assert.Equal(2, statistics.TotalFailedLeases);

        held.Dispose();
        using var served = await Served(newest);
        Assert.True(served.IsAcquired);
    }

    [Theory]
    [MemberData(nameof(Limiters))]
    public async Task A_request_larger_than_the_queue_fails_at_once_and_evicts_no_one(string kind)
    {
        using var limiter = Create(kind, permitLimit: 2, queueLimit: 1, QueueProcessingOrder.NewestFirst);
        var held = limiter.AttemptAcquire(2);
        var waiting = limiter.AcquireAsync(1);

        var refused = limiter.AcquireAsync(2);
        Assert.True(refused.IsCompleted);
        Assert.False((await Served(refused)).IsAcquired);
        Assert.False(waiting.IsCompleted);

        held.Dispose();
        using var served = await Served(waiting);
        Assert.True(served.IsAcquired);
    }

    [Theory]
    [MemberData(nameof(Limiters))]
    public async Task Zero_permits_report_availability_wait_for_it_and_are_counted(string kind)
    {
        using var limiter = Create(kind, permitLimit: 1, queueLimit: 1, QueueProcessingOrder.OldestFirst);
        using (var probe = limiter.AttemptAcquire(0))
        {
            Assert.True(probe.IsAcquired);
        }

        using (var probe = await limiter.AcquireAsync(0))
        {
            Assert.True(probe.IsAcquired);
        }

        var held = limiter.AttemptAcquire(1);
        Assert.False(limiter.AttemptAcquire(0).IsAcquired);
        var waiting = limiter.AcquireAsync(0);
        Assert.False(waiting.IsCompleted);
        var statistics = limiter.GetStatistics()!;
        Assert.Equal(3, statistics.TotalSuccessfulLeases);
        Assert.Equal(1, statistics.TotalFailedLeases);

        held.Dispose();
        using var served = await Served(waiting);
        Assert.True(served.IsAcquired);
        statistics = limiter.GetStatistics()!;
        Assert.Equal(1, statistics.CurrentAvailablePermits);
        Assert.Equal(4, statistics.TotalSuccessfulLeases);
    }

    [Theory]
    [MemberData(nameof(Limiters))]
    public async Task Cancelling_before_or_after_queueing_throws_for_the_callers_token_and_frees_the_queue(string kind)
    {
        using var limiter = Create(kind, permitLimit: 1, queueLimit: 1, QueueProcessingOrder.OldestFirst);
        var held = limiter.AttemptAcquire(1);

        using var early = new CancellationTokenSource();
        early.Cancel();
        var before = await Assert.ThrowsAsync<TaskCanceledException>(() => limiter.AcquireAsync(1, early.Token).AsTask());
        Assert.Equal(early.Token, before.CancellationToken);

        using var late = new CancellationTokenSource();
        var queued = limiter.AcquireAsync(1, late.Token);
        Assert.False(queued.IsCompleted);
        late.Cancel();
        var after = await Assert.ThrowsAsync<TaskCanceledException>(() => queued.AsTask());
        Assert.Equal(late.Token, after.CancellationToken);

        // A cancelled request returns no lease, so it is no failed lease either.
        AssertStatistics(limiter, available: 0, queued: 0, failed: 0, succeeded: 1);

        // The cancelled waiter's place is free again, and it took no permit.
        var next = limiter.AcquireAsync(1);
        Assert.False(next.IsCompleted);
        held.Dispose();
        using var served = await Served(next);
        Assert.True(served.IsAcquired);
        Assert.Equal(0, limiter.GetStatistics()!.CurrentQueuedCount);
    }

    [Theory]
    [MemberData(nameof(Limiters))]
    public async Task Disposal_fails_queued_requests_and_later_calls_throw(string kind)
    {
        var limiter = Create(kind, permitLimit: 1, queueLimit: 3, QueueProcessingOrder.OldestFirst);
        using var held = limiter.AttemptAcquire(1);
        var waiting = new[] { limiter.AcquireAsync(1), limiter.AcquireAsync(1), limiter.AcquireAsync(1) };
        Assert.All(waiting, task => Assert.False(task.IsCompleted));

        limiter.Dispose();

        foreach (var task in waiting)
        {
            Assert.False((await Served(task)).IsAcquired);
        }

        Assert.Throws<ObjectDisposedException>(() => limiter.AttemptAcquire(1));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => limiter.AcquireAsync(1).AsTask());
    }

    [Theory]
    [MemberData(nameof(Limiters))]
    public async Task Permit_counts_outside_zero_to_the_limit_throw_naming_the_argument(string kind)
    {
        using var limiter = Create(kind, permitLimit: 2, queueLimit: 2, QueueProcessingOrder.OldestFirst);
        Assert.Equal("permitCount", Assert.Throws<ArgumentOutOfRangeException>(() => limiter.AttemptAcquire(3)).ParamName);
        Assert.Equal("permitCount", Assert.Throws<ArgumentOutOfRangeException>(() => limiter.AttemptAcquire(-1)).ParamName);
        Assert.Equal("permitCount", (await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => limiter.AcquireAsync(3).AsTask())).ParamName);
        Assert.Equal("permitCount", (await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => limiter.AcquireAsync(-1).AsTask())).ParamName);
    }

    [Theory]
    [MemberData(nameof(Limiters))]
    public void A_permit_count_above_the_limit_is_an_argument_error_even_after_disposal(string kind)
    {
        // The argument is checked first: a request that could never be granted says so, disposed or not.
        var limiter = Create(kind, permitLimit: 2, queueLimit: 2, QueueProcessingOrder.OldestFirst);
        limiter.Dispose();
        Assert.Equal("permitCount", Assert.Throws<ArgumentOutOfRangeException>(() => limiter.AttemptAcquire(3)).ParamName);
        Assert.Equal("permitCount", Assert.Throws<ArgumentOutOfRangeException>(() => { _ = limiter.AcquireAsync(3); }).ParamName);
    }

    [Theory]
    [MemberData(nameof(Limiters))]
    public async Task Statistics_follow_acquisitions_queueing_and_refusals(string kind)
    {
        using var limiter = Create(kind, permitLimit: 100, queueLimit: 50, QueueProcessingOrder.OldestFirst);
        AssertStatistics(limiter, available: 100, queued: 0, failed: 0, succeeded: 0);

        var first = limiter.AttemptAcquire(60);
        AssertStatistics(limiter, available: 40, queued: 0, failed: 0, succeeded: 1);

        var queued = limiter.AcquireAsync(50);
        AssertStatistics(limiter, available: 40, queued: 50, failed: 0, succeeded: 1);

        Assert.False((await limiter.AcquireAsync(1)).IsAcquired);
        AssertStatistics(limiter, available: 40, queued: 50, failed: 1, succeeded: 1);

        Assert.False(limiter.AttemptAcquire(100).IsAcquired);
        AssertStatistics(limiter, available: 40, queued: 50, failed: 2, succeeded: 1);

        first.Dispose();
        using var served = await Served(queued);
        AssertStatistics(limiter, available: 50, queued: 0, failed: 2, succeeded: 2);
        Assert.NotSame(limiter.GetStatistics(), limiter.GetStatistics());
    }

    [Theory]
    [MemberData(nameof(Limiters))]
    public void Acquired_leases_carry_no_reason_and_idle_duration_is_null_while_a_permit_is_held(string kind)
    {
        using var limiter = Create(kind, permitLimit: 1, queueLimit: 1, QueueProcessingOrder.OldestFirst);
        Assert.NotNull(limiter.IdleDuration);
        var lease = limiter.AttemptAcquire(1);
        Assert.False(lease.TryGetMetadata(MetadataName.ReasonPhrase.Name, out _));
        Assert.Null(limiter.IdleDuration);
        lease.Dispose();
        Assert.NotNull(limiter.IdleDuration);
    }

    [Theory]
    [MemberData(nameof(Limiters))]
    public async Task Only_a_request_the_queue_cannot_take_carries_a_reason_phrase(string kind)
    {
        const string QueueLimitReached = "Queue limit reached";

        // Oldest first, queue full: refused with the reason; a refused attempt and a refused zero-permit probe carry none.
        using (var limiter = Create(kind, permitLimit: 1, queueLimit: 1, QueueProcessingOrder.OldestFirst))
        {
            using var held = limiter.AttemptAcquire(1);
            AssertMetadata(held);
            AssertMetadata(limiter.AttemptAcquire(1));
            AssertMetadata(limiter.AttemptAcquire(0));
            var queued = limiter.AcquireAsync(1);
            AssertMetadata(await Served(limiter.AcquireAsync(1)), reason: QueueLimitReached);

            // Disposal fails the waiter without a reason.
            limiter.Dispose();
            AssertMetadata(await Served(queued));
        }

        // No queue at all: the same reason, whatever the order.
        foreach (var order in new[] { QueueProcessingOrder.OldestFirst, QueueProcessingOrder.NewestFirst })
        {
            using var limiter = Create(kind, permitLimit: 1, queueLimit: 0, order);
            using var held = limiter.AttemptAcquire(1);
            AssertMetadata(await Served(limiter.AcquireAsync(1)), reason: QueueLimitReached);
        }

        // Newest first: an evicted waiter fails without a reason; a request larger than the queue fails with it.
        using (var limiter = Create(kind, permitLimit: 2, queueLimit: 1, QueueProcessingOrder.NewestFirst))
        {
            using var held = limiter.AttemptAcquire(2);
            var oldest = limiter.AcquireAsync(1);
            var newest = limiter.AcquireAsync(1);
            AssertMetadata(await Served(oldest));
            AssertMetadata(await Served(limiter.AcquireAsync(2)), reason: QueueLimitReached);
            Assert.False(newest.IsCompleted);
        }
    }

    /// <summary>
    /// Asserts a lease's metadata, names and values, through both lookups (by name and by typed name) and through
    /// <see cref="RateLimitLease.GetAllMetadata"/>. <see cref="RateLimitLease.MetadataNames"/> itself is not compared:
    /// the BCL's leases list <c>REASON_PHRASE</c> on every lease, with or without a value, ours only when it has one.
    /// </summary>
    private static void AssertMetadata(RateLimitLease lease, string? reason = null)
    {
        var expected = reason is null ? [] : new[] { new KeyValuePair<string, object?>(MetadataName.ReasonPhrase.Name, reason) };
        Assert.Equal(expected, lease.GetAllMetadata());
        Assert.Equal(reason is not null, lease.TryGetMetadata(MetadataName.ReasonPhrase, out var typed));
        Assert.Equal(reason, typed);
        Assert.Equal(reason is not null, lease.TryGetMetadata(MetadataName.ReasonPhrase.Name, out var byName));
        Assert.Equal(reason, byName);
        Assert.False(lease.TryGetMetadata(MetadataName.RetryAfter, out _));
    }

    /// <summary>Awaits a lease; a waiter the limiter lost fails the test instead of hanging the run.</summary>
    private static Task<RateLimitLease> Served(ValueTask<RateLimitLease> acquisition) => acquisition.AsTask().WaitAsync(TimeSpan.FromSeconds(30));

    private static RateLimiter Create(string kind, int permitLimit, int queueLimit, QueueProcessingOrder order) => kind switch
    {
        "bcl" => new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = permitLimit, QueueLimit = queueLimit, QueueProcessingOrder = order }),
        "ours" => new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = permitLimit, QueueLimit = queueLimit, QueueProcessingOrder = order }),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    private static void AssertStatistics(RateLimiter limiter, long available, long queued, long failed, long succeeded)
    {
        var statistics = limiter.GetStatistics()!;
        Assert.Equal(
            (available, queued, failed, succeeded),
            (statistics.CurrentAvailablePermits, statistics.CurrentQueuedCount, statistics.TotalFailedLeases, statistics.TotalSuccessfulLeases));
    }
}
