using System.Diagnostics;
using System.Reflection;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Time.Testing;
using Resilience.Tests.Time;

namespace Resilience.Tests.RateLimiting;

/// <summary>
/// The <see cref="RateLimiter"/> contract as the BCL's <see cref="TokenBucketRateLimiter"/> keeps it: every scenario runs
/// against the BCL's bucket (replenished by hand, one permit a period) and against <see cref="TokenBucketLimiter"/> (one
/// permit a second on a fake clock) with the same burst, so a scenario that passes for one and fails for the other is a
/// difference a caller switching between them would meet. "One period passes" is one replenishment step of the BCL's
/// (see <c>BclReplenish</c> for why not <c>TryReplenish()</c>) and one second of fake time for ours. Where the designs
/// differ on purpose (the BCL's queue with its limit and order against our reservation up to a maximum wait), only what
/// both promise is asserted.
/// </summary>
public class TokenBucketLimiterConformanceTests
{
    public static TheoryData<string> Limiters => new() { "bcl", "ours" };

    [Theory]
    [MemberData(nameof(Limiters))]
    public void A_fresh_bucket_grants_its_burst_then_one_permit_a_period(string kind)
    {
        using var bucket = Bucket.Create(kind, burst: 3);
        for (var i = 0; i < 3; i++)
        {
            Assert.True(bucket.Limiter.AttemptAcquire().IsAcquired);
        }

        Assert.False(bucket.Limiter.AttemptAcquire().IsAcquired);

        bucket.PassPeriod();
        Assert.True(bucket.Limiter.AttemptAcquire().IsAcquired);
        Assert.False(bucket.Limiter.AttemptAcquire().IsAcquired);

        // Several permits at once: two periods give two, and a lease of both counts once.
        bucket.PassPeriod();
        Assert.False(bucket.Limiter.AttemptAcquire(2).IsAcquired);
        bucket.PassPeriod();
        Assert.True(bucket.Limiter.AttemptAcquire(2).IsAcquired);
        Assert.Equal(5, bucket.Limiter.GetStatistics()!.TotalSuccessfulLeases);
    }

    [Theory]
    [MemberData(nameof(Limiters))]
    public void A_refused_lease_carries_retry_after_and_an_acquired_lease_carries_none(string kind)
    {
        using var bucket = Bucket.Create(kind, burst: 1);
        using var acquired = bucket.Limiter.AttemptAcquire();
        Assert.True(acquired.IsAcquired);
        Assert.False(acquired.TryGetMetadata(MetadataName.RetryAfter, out _));
        Assert.False(acquired.TryGetMetadata(MetadataName.RetryAfter.Name, out _));

        using var refused = bucket.Limiter.AttemptAcquire();
        Assert.False(refused.IsAcquired);
        Assert.Contains(MetadataName.RetryAfter.Name, refused.MetadataNames);
        Assert.True(refused.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter));
        Assert.Equal(TimeSpan.FromSeconds(1), retryAfter);
        Assert.True(refused.TryGetMetadata(MetadataName.RetryAfter.Name, out var byName));
        Assert.Equal(TimeSpan.FromSeconds(1), byName);
        Assert.False(refused.TryGetMetadata(MetadataName.ReasonPhrase, out _));
    }

    [Theory]
    [MemberData(nameof(Limiters))]
    public async Task Zero_permits_report_availability_take_nothing_and_are_counted(string kind)
    {
        using var bucket = Bucket.Create(kind, burst: 2);
        using (var probe = bucket.Limiter.AttemptAcquire(0))
        {
            Assert.True(probe.IsAcquired);
        }

        var pending = bucket.Limiter.AcquireAsync(0);
        Assert.True(pending.IsCompleted);
        using (var probe = await pending)
        {
            Assert.True(probe.IsAcquired);
        }

        AssertStatistics(bucket.Limiter, available: 2, failed: 0, succeeded: 2);

        Assert.True(bucket.Limiter.AttemptAcquire(2).IsAcquired);
        using (var refused = bucket.Limiter.AttemptAcquire(0))
        {
            Assert.False(refused.IsAcquired);
            Assert.True(refused.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter));
            Assert.Equal(TimeSpan.FromSeconds(1), retryAfter);
        }

        AssertStatistics(bucket.Limiter, available: 0, failed: 1, succeeded: 3);

        bucket.PassPeriod();
        Assert.True(bucket.Limiter.AttemptAcquire(0).IsAcquired);
        AssertStatistics(bucket.Limiter, available: 1, failed: 1, succeeded: 4);
    }

    // Both only when requests may wait: the BCL's bucket queues a zero-permit request even with QueueLimit = 0 (it needs
    // no room in the queue), while ours with MaxWait = 0 fails fast, as every request does (docs/rate-limiting.md).
    [Theory]
    [MemberData(nameof(Limiters))]
    public async Task A_zero_permit_request_that_may_wait_waits_for_a_permit_without_taking_it(string kind)
    {
        using var bucket = Bucket.Create(kind, burst: 1, wait: true);
        Assert.True(bucket.Limiter.AttemptAcquire().IsAcquired);

        var waiting = bucket.Limiter.AcquireAsync(0).AsTask();
        Assert.False(waiting.IsCompleted);
        Assert.Equal(0, bucket.Limiter.GetStatistics()!.CurrentQueuedCount);

        bucket.PassPeriod();
        using (var lease = await Served(waiting))
        {
            Assert.True(lease.IsAcquired);
        }

        AssertStatistics(bucket.Limiter, available: 1, failed: 0, succeeded: 2);
        Assert.True(bucket.Limiter.AttemptAcquire().IsAcquired);

        // A zero-permit waiter cancelled while it waits throws for the caller's token.
        using var cancel = new CancellationTokenSource();
        var cancelled = bucket.Limiter.AcquireAsync(0, cancel.Token).AsTask();
        Assert.False(cancelled.IsCompleted);
        cancel.Cancel();
        var error = await Assert.ThrowsAsync<TaskCanceledException>(() => cancelled);
        Assert.Equal(cancel.Token, error.CancellationToken);
    }

    [Theory]
    [MemberData(nameof(Limiters))]
    public async Task Permit_counts_below_zero_or_above_the_burst_throw_naming_the_argument(string kind)
    {
        using var bucket = Bucket.Create(kind, burst: 2);
        var limiter = bucket.Limiter;
        Assert.Equal("permitCount", Assert.Throws<ArgumentOutOfRangeException>(() => limiter.AttemptAcquire(-1)).ParamName);
        Assert.Equal("permitCount", (await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => limiter.AcquireAsync(-1).AsTask())).ParamName);

        // Above the burst both throw; the BCL names its own override's parameter ("tokenCount"), ours the parameter the
        // caller passed (RateLimiter.AttemptAcquire's and AcquireAsync's "permitCount"), as the check below zero does.
        var above = kind == "bcl" ? "tokenCount" : "permitCount";
        Assert.Equal(above, Assert.Throws<ArgumentOutOfRangeException>(() => limiter.AttemptAcquire(3)).ParamName);
        Assert.Equal(above, (await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => limiter.AcquireAsync(3).AsTask())).ParamName);
        AssertStatistics(limiter, available: 2, failed: 0, succeeded: 0);
    }

    [Theory]
    [InlineData("bcl", false)]
    [InlineData("bcl", true)]
    [InlineData("ours", false)]
    [InlineData("ours", true)]
    public void Acquire_async_throws_misuse_at_the_call_not_in_the_task_it_returns(string kind, bool wait)
    {
        // Usage errors surface where the call is made, as .NET's async methods throw argument and disposal errors.
        var bucket = Bucket.Create(kind, burst: 2, wait: wait);
        Assert.Equal(kind == "bcl" ? "tokenCount" : "permitCount", Assert.Throws<ArgumentOutOfRangeException>(() => { _ = bucket.Limiter.AcquireAsync(3); }).ParamName);
        bucket.Dispose();
        Assert.Throws<ObjectDisposedException>(() => { _ = bucket.Limiter.AcquireAsync(1); });
        Assert.Throws<ObjectDisposedException>(() => { _ = bucket.Limiter.AcquireAsync(0); });
    }

    [Theory]
    [MemberData(nameof(Limiters))]
    public async Task Calls_after_disposal_throw(string kind)
    {
        var bucket = Bucket.Create(kind, burst: 2);
        bucket.Dispose();
        Assert.Throws<ObjectDisposedException>(() => bucket.Limiter.AttemptAcquire(1));
        Assert.Throws<ObjectDisposedException>(() => bucket.Limiter.AttemptAcquire(0));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => bucket.Limiter.AcquireAsync(1).AsTask());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => bucket.Limiter.AcquireAsync(0).AsTask());
    }

    [Theory]
    [InlineData("bcl", false)]
    [InlineData("bcl", true)]
    [InlineData("ours", false)]
    [InlineData("ours", true)]
    public void A_permit_count_above_the_burst_is_an_argument_error_even_after_disposal(string kind, bool wait)
    {
        // The argument is checked first: a request that could never be granted says so, disposed or not.
        var bucket = Bucket.Create(kind, burst: 2, wait: wait);
        bucket.Dispose();
        var parameter = kind == "bcl" ? "tokenCount" : "permitCount";
        Assert.Equal(parameter, Assert.Throws<ArgumentOutOfRangeException>(() => bucket.Limiter.AttemptAcquire(3)).ParamName);
        Assert.Equal(parameter, Assert.Throws<ArgumentOutOfRangeException>(() => { _ = bucket.Limiter.AcquireAsync(3); }).ParamName);
    }

    [Theory]
    [InlineData("bcl", false)]
    [InlineData("bcl", true)]
    [InlineData("ours", false)]
    [InlineData("ours", true)]
    public async Task Disposal_fails_waiting_requests_without_metadata(string kind, bool disposeAsync)
    {
        // RateLimiter.Dispose's contract: "This completes any queued acquires with a failed lease."
        var bucket = Bucket.Create(kind, burst: 2, wait: true);
        Assert.True(bucket.Limiter.AttemptAcquire(2).IsAcquired);
        using var cancel = new CancellationTokenSource();
        var waiting = new[]
        {
            bucket.Limiter.AcquireAsync(0).AsTask(), bucket.Limiter.AcquireAsync(1).AsTask(), bucket.Limiter.AcquireAsync(1, cancel.Token).AsTask(),
        };
        Assert.All(waiting, task => Assert.False(task.IsCompleted));

        if (disposeAsync)
        {
            await bucket.Limiter.DisposeAsync();
        }
        else
        {
            bucket.Dispose();
        }

        foreach (var task in waiting)
        {
            var lease = await Served(task);
            Assert.False(lease.IsAcquired);
            AssertMetadata(lease, retryAfter: null);
        }

        // Time passing after disposal grants nothing to anyone.
        bucket.PassPeriod();
        bucket.PassPeriod();
        Assert.Throws<ObjectDisposedException>(() => bucket.Limiter.AttemptAcquire(1));
    }

    [Theory]
    [MemberData(nameof(Limiters))]
    public async Task A_waiter_cancelled_while_it_waits_is_no_failed_lease_and_takes_nothing(string kind)
    {
        using var bucket = Bucket.Create(kind, burst: 1, wait: true);
        Assert.True(bucket.Limiter.AttemptAcquire().IsAcquired);
        using var cancel = new CancellationTokenSource();
        var waiting = new[] { bucket.Limiter.AcquireAsync(0, cancel.Token).AsTask(), bucket.Limiter.AcquireAsync(1, cancel.Token).AsTask() };
        Assert.All(waiting, task => Assert.False(task.IsCompleted));

        cancel.Cancel();
        foreach (var task in waiting)
        {
            var error = await Assert.ThrowsAsync<TaskCanceledException>(() => task);
            Assert.Equal(cancel.Token, error.CancellationToken);
        }

        // A cancelled request returns no lease, so it is no failed lease either; the permit it waited for is still there.
        AssertStatistics(bucket.Limiter, available: 0, failed: 0, succeeded: 1);
        bucket.PassPeriod();
        AssertStatistics(bucket.Limiter, available: 1, failed: 0, succeeded: 1);
    }

    [Theory]
    [MemberData(nameof(Limiters))]
    public async Task A_waiter_cancelled_or_failed_by_disposal_has_completed_and_left_the_statistics_when_the_call_returns(string kind)
    {
        // A caller that cancels, or disposes the bucket, and then reads the waiter or the statistics sees it gone, not
        // still waiting for a thread-pool hop.
        var bucket = Bucket.Create(kind, burst: 2, wait: true);
        Assert.True(bucket.Limiter.AttemptAcquire(2).IsAcquired);
        using var cancel = new CancellationTokenSource();
        var probe = bucket.Limiter.AcquireAsync(0).AsTask();
        var cancelled = bucket.Limiter.AcquireAsync(1, cancel.Token).AsTask();
        var failed = bucket.Limiter.AcquireAsync(1).AsTask();
        Assert.False(probe.IsCompleted);
        Assert.Equal(2, bucket.Limiter.GetStatistics()!.CurrentQueuedCount);

        cancel.Cancel();
        Assert.True(cancelled.IsCanceled);
        Assert.Equal(1, bucket.Limiter.GetStatistics()!.CurrentQueuedCount);
        Assert.False(failed.IsCompleted);
        Assert.False(probe.IsCompleted);

        bucket.Dispose();
        Assert.True(failed.IsCompletedSuccessfully);
        Assert.True(probe.IsCompletedSuccessfully);
        Assert.False((await failed).IsAcquired);
        Assert.False((await probe).IsAcquired);
    }

    [Theory]
    [MemberData(nameof(Limiters))]
    public async Task An_already_cancelled_acquisition_throws_for_the_callers_token(string kind)
    {
        using var bucket = Bucket.Create(kind, burst: 1, wait: true);
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();

        // With a permit there, and with none (the request would have to wait): cancelled either way, taking nothing.
        var available = await Assert.ThrowsAsync<TaskCanceledException>(() => bucket.Limiter.AcquireAsync(1, cancel.Token).AsTask());
        Assert.Equal(cancel.Token, available.CancellationToken);
        Assert.True(bucket.Limiter.AttemptAcquire().IsAcquired);

        var empty = await Assert.ThrowsAsync<TaskCanceledException>(() => bucket.Limiter.AcquireAsync(1, cancel.Token).AsTask());
        Assert.Equal(cancel.Token, empty.CancellationToken);
        var zero = await Assert.ThrowsAsync<TaskCanceledException>(() => bucket.Limiter.AcquireAsync(0, cancel.Token).AsTask());
        Assert.Equal(cancel.Token, zero.CancellationToken);

        bucket.PassPeriod();
        Assert.Equal(1, bucket.Limiter.GetStatistics()!.CurrentAvailablePermits);
    }

    [Theory]
    [MemberData(nameof(Limiters))]
    public async Task Statistics_follow_grants_refusals_and_replenishment(string kind)
    {
        using var bucket = Bucket.Create(kind, burst: 4);
        var limiter = bucket.Limiter;
        AssertStatistics(limiter, available: 4, failed: 0, succeeded: 0);

        Assert.True(limiter.AttemptAcquire(3).IsAcquired);
        AssertStatistics(limiter, available: 1, failed: 0, succeeded: 1);

        Assert.False(limiter.AttemptAcquire(2).IsAcquired);
        Assert.False((await limiter.AcquireAsync(2)).IsAcquired);
        AssertStatistics(limiter, available: 1, failed: 2, succeeded: 1);

        Assert.True((await limiter.AcquireAsync(1)).IsAcquired);
        Assert.False(limiter.AttemptAcquire(1).IsAcquired);
        AssertStatistics(limiter, available: 0, failed: 3, succeeded: 2);

        bucket.PassPeriod();
        bucket.PassPeriod();
        AssertStatistics(limiter, available: 2, failed: 3, succeeded: 2);
        Assert.True(limiter.AttemptAcquire(2).IsAcquired);
        AssertStatistics(limiter, available: 0, failed: 3, succeeded: 3);

        // A bucket refills to its burst and no further.
        for (var i = 0; i < 6; i++)
        {
            bucket.PassPeriod();
        }

        AssertStatistics(limiter, available: 4, failed: 3, succeeded: 3);
        Assert.Equal(0, limiter.GetStatistics()!.CurrentQueuedCount);
        Assert.NotSame(limiter.GetStatistics(), limiter.GetStatistics());
    }

    [Theory]
    [MemberData(nameof(Limiters))]
    public void Idle_duration_is_set_while_the_bucket_is_full_and_null_while_it_is_not(string kind)
    {
        using var bucket = Bucket.Create(kind, burst: 2);
        Assert.NotNull(bucket.Limiter.IdleDuration);

        Assert.True(bucket.Limiter.AttemptAcquire().IsAcquired);
        Assert.Null(bucket.Limiter.IdleDuration);

        // An empty or refilling bucket is not idle; zero permits take nothing, so a full bucket stays idle.
        Assert.True(bucket.Limiter.AttemptAcquire(1).IsAcquired);
        Assert.Null(bucket.Limiter.IdleDuration);
        bucket.PassPeriod();
        Assert.Null(bucket.Limiter.IdleDuration);
        bucket.PassPeriod();
        Assert.NotNull(bucket.Limiter.IdleDuration);
        Assert.True(bucket.Limiter.AttemptAcquire(0).IsAcquired);
        Assert.NotNull(bucket.Limiter.IdleDuration);
    }

    [Theory]
    [MemberData(nameof(Limiters))]
    public async Task Refusals_carry_retry_after_and_nothing_else(string kind)
    {
        using var bucket = Bucket.Create(kind, burst: 1, wait: true);
        var limiter = bucket.Limiter;
        using var acquired = limiter.AttemptAcquire();
        AssertMetadata(acquired, retryAfter: null);
        AssertMetadata(limiter.AttemptAcquire(1), retryAfter: TimeSpan.FromSeconds(1));
        AssertMetadata(limiter.AttemptAcquire(0), retryAfter: TimeSpan.FromSeconds(1));

        // One request waits for the next permit (in the BCL's queue, in our reservation); a second cannot wait, and its
        // retry-after counts the permit the first waits for.
        var waiting = limiter.AcquireAsync(1).AsTask();
        Assert.False(waiting.IsCompleted);
        AssertMetadata(await Served(limiter.AcquireAsync(1).AsTask()), retryAfter: TimeSpan.FromSeconds(2));

        bucket.PassPeriod();
        using var served = await Served(waiting);
        Assert.True(served.IsAcquired);
        AssertMetadata(served, retryAfter: null);
    }

    // Ours only: the BCL's bucket has no maximum wait (a request waits in its queue for as long as it takes), so failing
    // a zero-permit request whose permit comes later than MaxWait, with the time it would take, has no BCL counterpart.
    [Fact]
    public async Task A_zero_permit_request_fails_with_retry_after_when_the_next_permit_is_beyond_the_maximum_wait()
    {
        var time = new FakeTimeProvider();
        using var limiter = new TokenBucketLimiter(new TokenBucketLimiterOptions
        {
            PermitsPerSecond = 0.5, Burst = 1, MaxWait = TimeSpan.FromSeconds(1), TimeProvider = time,
        });
        Assert.True(limiter.AttemptAcquire().IsAcquired);

        using (var refused = await limiter.AcquireAsync(0))
        {
            Assert.False(refused.IsAcquired);
            Assert.True(refused.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter));
            Assert.Equal(TimeSpan.FromSeconds(2), retryAfter);
        }

        AssertStatistics(limiter, available: 0, failed: 1, succeeded: 1);

        // Within the maximum wait: it completes only when the permit is there, and leaves it there.
        time.Advance(TimeSpan.FromSeconds(1));
        var waiting = limiter.AcquireAsync(0).AsTask();
        time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.False(waiting.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        using (var lease = await Served(waiting))
        {
            Assert.True(lease.IsAcquired);
        }

        AssertStatistics(limiter, available: 1, failed: 1, succeeded: 2);
    }

    // Ours only: a zero-permit waiter reserves nothing (it takes no permit), so a permit it waits for can be reserved
    // meanwhile by a later request; it then waits on for the next one, never past its maximum wait from when it asked.
    [Fact]
    public async Task A_zero_permit_waiter_whose_permit_is_reserved_meanwhile_waits_on_within_its_maximum_wait()
    {
        var time = new TimerCountingTimeProvider();
        using var limiter = new TokenBucketLimiter(new TokenBucketLimiterOptions
        {
            PermitsPerSecond = 1, Burst = 1, MaxWait = TimeSpan.FromSeconds(2), TimeProvider = time,
        });
        Assert.True(limiter.AttemptAcquire().IsAcquired);

        var probe = limiter.AcquireAsync(0).AsTask();
        var reserved = limiter.AcquireAsync(1).AsTask();
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True((await Served(reserved)).IsAcquired);
        Assert.False(probe.IsCompleted);

        // The next permit (at 2 s) is within the 2 s it may wait from 0 s; one after that would not be. The probe woke
        // at 1 s within the clock's advance, and waits on before it returns.
        time.Advance(TimeSpan.FromSeconds(1));
        using (var lease = await Served(probe))
        {
            Assert.True(lease.IsAcquired);
        }

        // At 2 s a permit is taken (the next is there at 3 s) and a waiter asks at most 2 s ahead (until 4 s); two later
        // requests reserve the permits of 3 s and 4 s, so at 3 s the next free one (5 s) is past its deadline.
        Assert.True(limiter.AttemptAcquire().IsAcquired);
        var late = limiter.AcquireAsync(0).AsTask();
        var first = limiter.AcquireAsync(1).AsTask();
        var second = limiter.AcquireAsync(1).AsTask();
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True((await Served(first)).IsAcquired);
        using (var refused = await Served(late))
        {
            Assert.False(refused.IsAcquired);
            Assert.True(refused.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter));
            Assert.Equal(TimeSpan.FromSeconds(2), retryAfter);
        }

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True((await Served(second)).IsAcquired);
        AssertStatistics(limiter, available: 0, failed: 1, succeeded: 6);
    }

    /// <summary>Awaits a lease; a waiter the limiter lost fails the test instead of hanging the run.</summary>
    private static Task<RateLimitLease> Served(Task<RateLimitLease> acquisition) => acquisition.WaitAsync(TimeSpan.FromSeconds(30));

    /// <summary>
    /// Asserts a lease's metadata, names and values, through both lookups and <see cref="RateLimitLease.GetAllMetadata"/>.
    /// <see cref="RateLimitLease.MetadataNames"/> itself is not compared: the BCL's leases list <c>RETRY_AFTER</c> on
    /// every lease, with or without a value, ours only when it has one.
    /// </summary>
    private static void AssertMetadata(RateLimitLease lease, TimeSpan? retryAfter)
    {
        var expected = retryAfter is null ? [] : new[] { new KeyValuePair<string, object?>(MetadataName.RetryAfter.Name, retryAfter.Value) };
        Assert.Equal(expected, lease.GetAllMetadata());
        Assert.Equal(retryAfter is not null, lease.TryGetMetadata(MetadataName.RetryAfter, out var typed));
        Assert.Equal(retryAfter ?? default, typed);
        Assert.Equal(retryAfter is not null, lease.TryGetMetadata(MetadataName.RetryAfter.Name, out var byName));
        Assert.Equal(retryAfter, (TimeSpan?)byName);
        Assert.False(lease.TryGetMetadata(MetadataName.ReasonPhrase, out _));
    }

    private static void AssertStatistics(RateLimiter limiter, long available, long failed, long succeeded)
    {
        var statistics = limiter.GetStatistics()!;
        Assert.Equal(
            (available, failed, succeeded),
            (statistics.CurrentAvailablePermits, statistics.TotalFailedLeases, statistics.TotalSuccessfulLeases));
    }

    /// <summary>A bucket of either kind, one permit a period, and how a period passes for it.</summary>
    private sealed class Bucket : IDisposable
    {
        private readonly FakeTimeProvider? _time;

        private Bucket(RateLimiter limiter, FakeTimeProvider? time)
        {
            Limiter = limiter;
            _time = time;
        }

        public RateLimiter Limiter { get; }

        /// <summary>Creates a full bucket; <paramref name="wait"/> lets requests wait (the BCL's queue, our maximum wait).</summary>
        public static Bucket Create(string kind, int burst, bool wait = false)
        {
            switch (kind)
            {
                case "bcl":
                    return new Bucket(
                        new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
                        {
                            TokenLimit = burst,
                            TokensPerPeriod = 1,
                            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                            AutoReplenishment = false,
                            QueueLimit = wait ? burst : 0,
                        }),
                        null);
                case "ours":
                    var time = new FakeTimeProvider();
                    return new Bucket(
                        new TokenBucketLimiter(new TokenBucketLimiterOptions
                        {
                            PermitsPerSecond = 1,
                            Burst = burst,
                            MaxWait = wait ? TimeSpan.FromSeconds(burst) : TimeSpan.Zero,
                            TimeProvider = time,
                        }),
                        time);
                default:
                    throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
            }
        }

        /// <summary>One period passes: the BCL's bucket is replenished as its own timer would, ours sees one second go by.</summary>
        public void PassPeriod()
        {
            if (_time is null)
            {
                BclReplenish((TokenBucketRateLimiter)Limiter);
            }
            else
            {
                _time.Advance(TimeSpan.FromSeconds(1));
            }
        }

        public void Dispose() => Limiter.Dispose();

        /// <summary>
        /// Replenishes the BCL's bucket by one period of its own (Stopwatch) time. <c>TryReplenish()</c> cannot: with
        /// <c>AutoReplenishment = false</c> it adds tokens for the real time elapsed since the last replenishment
        /// (fractions of a token in a test), not one period's. So the private step its timer and <c>TryReplenish</c>
        /// share is given a reading one period (and a thousandth, against rounding) after the last one; a BCL that
        /// renamed either member fails here, loudly, instead of testing nothing.
        /// </summary>
        private static void BclReplenish(TokenBucketRateLimiter limiter)
        {
            const BindingFlags Private = BindingFlags.Instance | BindingFlags.NonPublic;
            var last = typeof(TokenBucketRateLimiter).GetField("_lastReplenishmentTick", Private)
                ?? throw new InvalidOperationException("TokenBucketRateLimiter._lastReplenishmentTick not found");
            var replenish = typeof(TokenBucketRateLimiter).GetMethod("ReplenishInternal", Private, [typeof(long)])
                ?? throw new InvalidOperationException("TokenBucketRateLimiter.ReplenishInternal(long) not found");
            var now = (long)last.GetValue(limiter)! + Stopwatch.Frequency + (Stopwatch.Frequency / 1000);
            replenish.Invoke(limiter, [now]);
        }
    }
}
