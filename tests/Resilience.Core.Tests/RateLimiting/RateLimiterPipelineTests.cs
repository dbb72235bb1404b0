using System.Threading.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.RateLimiting;

public class RateLimiterPipelineTests
{
    [Fact]
    public void Limiters_in_one_pipeline_are_told_apart_by_the_names_given_and_rejections_name_theirs()
    {
        using var tenants = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 0 });
        using var partitioned = PartitionedRateLimiter.Create<int, int>(_ => RateLimitPartition.GetNoLimiter(0));
        var pipeline = new ResiliencePipelineBuilder()
            .AddRateLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 1 }, name: "per-second")
            .AddConcurrencyLimiter(new InFlightLimiterOptions { PermitLimit = 10 }, name: "in-flight")
            .AddRateLimiter(tenants, name: "tenants")
            .AddRateLimiter(partitioned, static () => 0, name: "per-key")
            .AddRateLimiter(new TokenBucketLimiterOptions())
            .Build();

        Assert.Equal(["per-second", "in-flight", "tenants", "per-key", "TokenBucketLimiter"], pipeline.Strategies.Select(strategy => strategy.Name));

        using var held = tenants.AttemptAcquire();
        var rejected = pipeline.ExecuteOutcome(static (_, _) => 1, 0);
        Assert.Equal("tenants", Assert.IsType<RateLimiterRejectedException>(rejected.Exception).StrategyName);
    }

    [Fact]
    public async Task Token_bucket_rejection_is_a_typed_exception_or_a_rejected_outcome_with_retry_after()
    {
        var time = new FakeTimeProvider();
        var pipeline = new ResiliencePipelineBuilder { Name = "search" }
            .AddRateLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 2, Burst = 1, TimeProvider = time })
            .Build();

        Assert.Equal(1, pipeline.Execute(static _ => 1));
        var outcome = pipeline.ExecuteOutcome(static (_, _) => 2, 0);
        var thrown = await Assert.ThrowsAsync<RateLimiterRejectedException>(() => pipeline.ExecuteAsync(static _ => new ValueTask<int>(3)).AsTask());

        Assert.True(outcome.IsRejected);
        Assert.Equal(RejectionReason.RateLimited, outcome.Rejection.Reason);
        Assert.Equal(TimeSpan.FromMilliseconds(500), outcome.Rejection.RetryAfter);
        Assert.Equal(("search", TimeSpan.FromMilliseconds(500)), (thrown.PipelineName, thrown.RetryAfter));
        time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.Equal(4, pipeline.Execute(static _ => 4));
    }

    [Fact]
    public async Task Token_bucket_with_max_wait_waits_for_its_slot_in_a_pipeline()
    {
        var time = new FakeTimeProvider();
        var pipeline = new ResiliencePipelineBuilder()
            .AddRateLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 1, MaxWait = TimeSpan.FromSeconds(2), TimeProvider = time })
            .Build();
        pipeline.Execute(static _ => 0);

        var waiting = pipeline.ExecuteAsync(static _ => new ValueTask<int>(7)).AsTask();
        Assert.False(waiting.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(7, await waiting);
    }

    [Fact]
    public async Task A_call_whose_wait_would_pass_the_maximum_is_rejected_at_once_counted_once_with_retry_after()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 0.5, Burst = 1, MaxWait = TimeSpan.FromSeconds(1), TimeProvider = time });
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(bucket).Build();
        pipeline.Execute(static _ => 0);

        var outcome = await pipeline.ExecuteOutcomeAsync(static (_, _) => new ValueTask<int>(1), 0);

        Assert.True(outcome.IsRejected);
        Assert.Equal(TimeSpan.FromSeconds(2), outcome.Rejection.RetryAfter);
        var statistics = bucket.GetStatistics()!;
        Assert.Equal((1, 1), (statistics.TotalSuccessfulLeases, statistics.TotalFailedLeases));
    }

    [Fact]
    public async Task A_call_waiting_for_a_bucket_that_is_disposed_is_rejected_and_never_runs()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 1, MaxWait = TimeSpan.FromSeconds(2), TimeProvider = time });
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(bucket).Build();
        pipeline.Execute(static _ => 0);

        var ran = 0;
        var waiting = pipeline.ExecuteOutcomeAsync((_, _) => new ValueTask<int>(Interlocked.Increment(ref ran)), 0).AsTask();
        Assert.False(waiting.IsCompleted);
        bucket.Dispose();
        time.Advance(TimeSpan.FromSeconds(1));

        var outcome = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(outcome.IsRejected);
        Assert.Equal(RejectionReason.RateLimited, outcome.Rejection.Reason);
        Assert.Equal(0, ran);
    }

    [Fact]
    public async Task A_call_that_would_wait_for_a_bucket_disposed_before_it_came_is_rejected_at_once()
    {
        // The pipeline's path checks no disposal (it costs the admitted call nothing); a call that must wait finds the
        // bucket disposed when it starts to wait, and does not sleep until its slot.
        var time = new FakeTimeProvider();
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 1, MaxWait = TimeSpan.FromSeconds(2), TimeProvider = time });
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(bucket).Build();
        pipeline.Execute(static _ => 0);
        bucket.Dispose();

        // The fake clock never moves: only the disposal can end the wait.
        var outcome = await pipeline.ExecuteOutcomeAsync(static (_, _) => new ValueTask<int>(1), 0).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(outcome.IsRejected);
        Assert.Equal(RejectionReason.RateLimited, outcome.Rejection.Reason);
    }

    [Fact]
    public async Task Calls_refused_by_a_disposed_bucket_together_leave_the_permits_it_refills_to_later_calls()
    {
        // After disposal the pipeline still admits while a permit is there. A call that would wait is refused; if it
        // reserved a slot first and gave it back, a second call reserving in between (the first's slot is then not the
        // last, so it cannot come back) would strand the first's slot, and the refill after it would be a permit short.
        var time = new FakeTimeProvider();
        var clock = new TimerHookTimeProvider(time);
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 1, MaxWait = TimeSpan.FromSeconds(2), TimeProvider = clock });
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(bucket).Build();
        Assert.True(pipeline.ExecuteOutcome(static (_, _) => 0, 0).IsSuccess);
        bucket.Dispose();

        // Should the first call arm a wait, the second comes while it does, and reaches its own before the first goes on.
        using var secondArming = new ManualResetEventSlim();
        using var firstRefused = new ManualResetEventSlim();
        Task<Outcome<int>>? second = null;
        clock.BeforeTimer = () =>
        {
            clock.BeforeTimer = () =>
            {
                clock.BeforeTimer = null;
                secondArming.Set();
                Assert.True(firstRefused.Wait(TimeSpan.FromSeconds(10)));
            };
            second = Task.Run(() => pipeline.ExecuteOutcome(static (_, _) => 2, 0));
            Assert.True(secondArming.Wait(TimeSpan.FromSeconds(10)));
        };
        var first = pipeline.ExecuteOutcome(static (_, _) => 1, 0);
        firstRefused.Set();
        clock.BeforeTimer = null;
        var secondOutcome = second is null ? pipeline.ExecuteOutcome(static (_, _) => 2, 0) : await second.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(first.IsRejected);
        Assert.True(secondOutcome.IsRejected);
        Assert.Equal(2, bucket.GetStatistics()!.TotalFailedLeases);
        Assert.Equal(0, bucket.GetStatistics()!.CurrentQueuedCount);

        // The permit taken first is back a second later, as if neither refused call had come.
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, bucket.GetStatistics()!.CurrentAvailablePermits);
        Assert.True(pipeline.ExecuteOutcome(static (_, _) => 3, 0).IsSuccess);
    }

    [Fact]
    public async Task A_call_that_would_queue_for_a_concurrency_limiter_disposed_before_it_came_is_rejected_with_a_failed_lease()
    {
        // As the token bucket refuses a wait once disposed: the caller gets a rejection, not the limiter's
        // ObjectDisposedException, and a call in flight still finishes and gives its permit back, which a later call takes.
        var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 2 });
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(limiter).Build();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var inFlight = pipeline.ExecuteAsync(_ => new ValueTask<int>(gate.Task)).AsTask();
        var queued = pipeline.ExecuteOutcomeAsync(static (_, _) => new ValueTask<int>(2), 0).AsTask();
        Assert.Equal(1, limiter.GetStatistics()!.CurrentQueuedCount);

        limiter.Dispose();
        var late = await pipeline.ExecuteOutcomeAsync(static (_, _) => new ValueTask<int>(3), 0).AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(RejectionReason.RateLimited, (await queued.WaitAsync(TimeSpan.FromSeconds(30))).Rejection.Reason);
        Assert.True(late.IsRejected, late.Exception?.ToString());
        Assert.Equal(RejectionReason.RateLimited, late.Rejection.Reason);
        Assert.Null(late.Rejection.RetryAfter);
        Assert.Equal(2, limiter.GetStatistics()!.TotalFailedLeases);

        gate.SetResult(1);
        Assert.Equal(1, await inFlight.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(1, limiter.GetStatistics()!.CurrentAvailablePermits);
        Assert.Equal(4, await pipeline.ExecuteAsync(static _ => new ValueTask<int>(4)));
    }

    [Fact]
    public async Task Concurrency_permit_is_released_on_success_failure_and_cancellation()
    {
        var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1 });
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(limiter).Build();
        using var cancelled = new CancellationTokenSource();

        pipeline.Execute(static _ => 1);
        pipeline.ExecuteOutcome<int, int>(static (_, _) => throw new IOException(), 0);
        await pipeline.ExecuteOutcomeAsync(static (caller, ct) => { caller.Cancel(); return ValueTask.FromCanceled<int>(ct); }, cancelled, cancelled.Token);

        var gate = new TaskCompletionSource<int>();
        var inFlight = pipeline.ExecuteAsync(_ => new ValueTask<int>(gate.Task));
        Assert.True(pipeline.ExecuteOutcome(static (_, _) => 2, 0).IsRejected);
        gate.SetResult(3);
        Assert.Equal(3, await inFlight);
        Assert.Equal(1, limiter.GetStatistics()!.CurrentAvailablePermits);
        Assert.Equal(4, limiter.GetStatistics()!.TotalSuccessfulLeases);
        Assert.Equal(1, limiter.GetStatistics()!.TotalFailedLeases);
    }

    [Fact]
    public async Task Concurrency_limiter_with_a_queue_waits_in_a_pipeline()
    {
        var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(limiter).Build();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);

        var first = pipeline.ExecuteAsync(_ => new ValueTask<int>(gate.Task)).AsTask();
        var second = pipeline.ExecuteAsync(static _ => new ValueTask<int>(2)).AsTask();
        Assert.False(second.IsCompleted);
        gate.SetResult(1);

        Assert.Equal((1, 2), (await first, await second));
        Assert.Equal(1, limiter.GetStatistics()!.CurrentAvailablePermits);
    }

    [Fact]
    public void Token_bucket_added_from_options_without_a_clock_refills_on_the_pipelines_clock()
    {
        var time = new FakeTimeProvider();

        // One permit an hour: on any other clock than the fake one, the bucket could not refill during the test.
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRateLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1.0 / 3600, Burst = 1 })
            .Build();
        Assert.Equal(1, pipeline.Execute(static _ => 1));
        Assert.True(pipeline.ExecuteOutcome(static (_, _) => 2, 0).IsRejected);

        time.Advance(TimeSpan.FromHours(1));

        Assert.Equal(3, pipeline.Execute(static _ => 3));
    }

    [Fact]
    public async Task Concurrency_limiter_added_from_options_without_a_clock_times_its_queue_out_on_the_pipelines_clock()
    {
        var time = new FakeTimeProvider();
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddConcurrencyLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1, QueueTimeout = TimeSpan.FromHours(1) })
            .Build();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = pipeline.ExecuteAsync(_ => new ValueTask<int>(gate.Task)).AsTask();
        var queued = pipeline.ExecuteOutcomeAsync(static (_, _) => new ValueTask<int>(2), 0).AsTask();
        Assert.False(queued.IsCompleted);

        // The waiter's timeout is armed while the call is entered, before ExecuteOutcomeAsync returns.
        time.Advance(TimeSpan.FromHours(1));
        var outcome = await queued.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(outcome.IsRejected);
        Assert.Equal(RejectionReason.RateLimited, outcome.Rejection.Reason);
        gate.SetResult(1);
        Assert.Equal(1, await first.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Bcl_limiters_work_in_a_pipeline_attempting_first_and_waiting_only_when_asked()
    {
        using var bcl = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var failFast = new ResiliencePipelineBuilder().AddRateLimiter(bcl).Build();
        var waiting = new ResiliencePipelineBuilder().AddRateLimiter(bcl, waitForPermit: true).Build();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);

        var holder = failFast.ExecuteAsync(_ => new ValueTask<int>(gate.Task)).AsTask();
        Assert.True(failFast.ExecuteOutcome(static (_, _) => 0, 0).IsRejected);
        var queued = waiting.ExecuteAsync(static _ => new ValueTask<int>(5)).AsTask();
        Assert.False(queued.IsCompleted);
        gate.SetResult(4);

        Assert.Equal((4, 5), (await holder, await queued));
        Assert.Equal(1, bcl.GetStatistics()!.CurrentAvailablePermits);
    }

    [Fact]
    public void Bcl_token_bucket_rejection_carries_its_retry_after()
    {
        using var bcl = new System.Threading.RateLimiting.TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = 1,
            TokensPerPeriod = 1,
            ReplenishmentPeriod = TimeSpan.FromMinutes(1),
            AutoReplenishment = false,
        });
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(bcl).Build();

        pipeline.Execute(static _ => 0);
        var outcome = pipeline.ExecuteOutcome(static (_, _) => 0, 0);

        Assert.True(outcome.IsRejected);
        Assert.Equal(TimeSpan.FromMinutes(1), outcome.Rejection.RetryAfter);
    }

    [Fact]
    public void Partitioned_limiter_limits_each_key_on_its_own()
    {
        var time = new FakeTimeProvider();
        var tenant = new AsyncLocal<string>();
        var limiter = new BoundedPartitionedLimiter<string>(_ => new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 2, TimeProvider = time }));
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(limiter, () => tenant.Value!).Build();

        tenant.Value = "a";
        var a = Enumerable.Range(0, 3).Select(_ => pipeline.ExecuteOutcome(static (_, _) => 1, 0).IsRejected).ToList();
        tenant.Value = "b";
        var b = pipeline.ExecuteOutcome(static (_, _) => 1, 0).IsRejected;

        Assert.Equal([false, false, true], a);
        Assert.False(b);
        Assert.Equal(2, limiter.Count);
    }
}
