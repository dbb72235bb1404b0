using System.Threading.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Cancellation;

/// <summary>
/// A service passes one long-lived token (its host's shutdown token, never cancelled) to every call: whatever a call
/// registers on that token must be gone when the call ends, or the token's list grows with every call for ever.
/// </summary>
public class RegistrationLeakTests
{
    private const int Calls = 2000;
    private const int WaitingCalls = 300;

    private readonly FakeTimeProvider _time = new();
    private readonly CancellationTokenSource _host = new();

    [Fact]
    public void The_counter_sees_a_registration_left_behind()
    {
        var before = TokenRegistrations.Count(_host);
        var leaked = _host.Token.Register(static () => { });

        Assert.Equal(before + 1, TokenRegistrations.Count(_host));
        leaked.Dispose();
        Assert.Equal(before, TokenRegistrations.Count(_host));
    }

    [Fact]
    public async Task Timeout_on_another_clock_that_does_not_fire_leaves_nothing()
    {
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = _time }
            .AddTimeout(new TimeoutOptions { Timeout = TimeSpan.FromMinutes(1), TimeProvider = _time })
            .Build();

        for (var i = 0; i < Calls; i++)
        {
            Assert.Equal(i, await pipeline.ExecuteAsync(static (n, _) => new ValueTask<int>(n), i, _host.Token));
            Assert.Equal(i, pipeline.Execute(static (n, _) => n, i, _host.Token));
        }

        Assert.Equal(0, TokenRegistrations.Count(_host));
    }

    [Fact]
    public async Task Pooled_timeout_on_the_system_clock_that_does_not_fire_leaves_nothing()
    {
        var pipeline = new ResiliencePipelineBuilder().AddTimeout(TimeSpan.FromHours(1)).Build();

        for (var i = 0; i < Calls; i++)
        {
            Assert.Equal(i, await pipeline.ExecuteAsync(static async (n, ct) => { await Task.Yield(); return n; }, i, _host.Token));
            Assert.Equal(i, pipeline.Execute(static (n, _) => n, i, _host.Token));
        }

        Assert.Equal(0, TokenRegistrations.Count(_host));
    }

    [Fact]
    public async Task Timeout_that_fires_leaves_nothing()
    {
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = _time }
            .AddTimeout(new TimeoutOptions { Timeout = TimeSpan.FromSeconds(1), TimeProvider = _time })
            .Build();

        for (var i = 0; i < WaitingCalls; i++)
        {
            var call = pipeline.ExecuteOutcomeAsync(static async (n, ct) => { await Task.Delay(System.Threading.Timeout.InfiniteTimeSpan, ct); return n; }, i, _host.Token).AsTask();
            _time.Advance(TimeSpan.FromSeconds(1));
            Assert.IsType<TimeoutRejectedException>((await call.WaitAsync(TimeSpan.FromSeconds(30))).Exception);
        }

        Assert.Equal(0, TokenRegistrations.Count(_host));
    }

    [Fact]
    public async Task Retry_delay_that_elapses_leaves_nothing()
    {
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = _time }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.FromSeconds(1), UseJitter = false, Backoff = RetryBackoff.Constant })
            .Build();

        for (var i = 0; i < WaitingCalls; i++)
        {
            var attempts = 0;
            var call = pipeline.ExecuteOutcomeAsync((n, _) => ++attempts == 1 ? ValueTask.FromException<int>(new IOException()) : new ValueTask<int>(n), i, _host.Token).AsTask();
            _time.Advance(TimeSpan.FromSeconds(1));
            Assert.Equal(i, (await call.WaitAsync(TimeSpan.FromSeconds(30))).Result);
        }

        Assert.Equal(0, TokenRegistrations.Count(_host));
    }

    [Fact]
    public async Task Token_bucket_wait_that_is_served_leaves_nothing()
    {
        var options = new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 1, MaxWait = TimeSpan.FromSeconds(10), TimeProvider = _time };
        using var bucket = new TokenBucketLimiter(options);
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = _time }.AddRateLimiter(bucket).Build();
        Assert.True(pipeline.Execute(static (n, _) => n == 0, 0, _host.Token));

        for (var i = 0; i < WaitingCalls; i++)
        {
            var call = pipeline.ExecuteAsync(static (n, _) => new ValueTask<int>(n), i, _host.Token).AsTask();
            var acquisition = bucket.AcquireAsync(1, _host.Token).AsTask();
            Assert.False(call.IsCompleted || acquisition.IsCompleted);
            _time.Advance(TimeSpan.FromSeconds(2));
            Assert.Equal(i, await call.WaitAsync(TimeSpan.FromSeconds(30)));
            using var lease = await acquisition.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(lease.IsAcquired);
        }

        Assert.Equal(0, TokenRegistrations.Count(_host));
    }

    [Fact]
    public async Task Concurrency_limiter_queue_wait_that_is_served_leaves_nothing()
    {
        var options = new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 10, QueueTimeout = TimeSpan.FromMinutes(1), TimeProvider = _time };
        using var limiter = new InFlightLimiter(options);
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = _time }.AddRateLimiter(limiter).Build();
        await AssertQueuedWaitsLeaveNothing(pipeline, limiter);
    }

    [Fact]
    public async Task Foreign_limiter_queue_wait_that_is_served_leaves_nothing()
    {
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 10 });
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(limiter, waitForPermit: true).Build();
        await AssertQueuedWaitsLeaveNothing(pipeline, limiter);
    }

    [Fact]
    public async Task Partitioned_limiter_queue_wait_that_is_served_leaves_nothing()
    {
        using var partitioned = new BoundedPartitionedLimiter<string>(_ => new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 10 }));
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(partitioned, static () => "key", waitForPermit: true).Build();

        for (var i = 0; i < WaitingCalls; i++)
        {
            using (var held = await partitioned.AcquireAsync("key", 1, _host.Token))
            {
                Assert.True(held.IsAcquired);
                var queued = pipeline.ExecuteAsync(static (n, _) => new ValueTask<int>(n), i, _host.Token).AsTask();
                var acquisition = partitioned.AcquireAsync("key", 1, _host.Token).AsTask();
                Assert.False(queued.IsCompleted || acquisition.IsCompleted);
                held.Dispose();
                Assert.Equal(i, await queued.WaitAsync(TimeSpan.FromSeconds(30)));
                using var lease = await acquisition.WaitAsync(TimeSpan.FromSeconds(30));
                Assert.True(lease.IsAcquired);
            }
        }

        Assert.Equal(0, TokenRegistrations.Count(_host));
    }

    [Fact]
    public async Task Fallback_after_a_timeout_leaves_nothing()
    {
        var fallback = new FallbackOptions<int>();
        fallback.Levels.Add(new FallbackLevel<int>("slow", static async a => { await Task.Yield(); return -1; }));
        var pipeline = new ResiliencePipelineBuilder<int> { TimeProvider = _time }
            .AddFallback(fallback)
            .AddTimeout(new TimeoutOptions { Timeout = TimeSpan.FromSeconds(1), TimeProvider = _time })
            .Build();

        for (var i = 0; i < WaitingCalls; i++)
        {
            var call = pipeline.ExecuteAsync(static async (n, ct) => { await Task.Delay(System.Threading.Timeout.InfiniteTimeSpan, ct); return n; }, i, _host.Token).AsTask();
            _time.Advance(TimeSpan.FromSeconds(1));
            Assert.Equal(-1, await call.WaitAsync(TimeSpan.FromSeconds(30)));
        }

        Assert.Equal(0, TokenRegistrations.Count(_host));
    }

    [Fact]
    public async Task Concurrency_limiter_queue_wait_that_times_out_leaves_nothing()
    {
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 10, QueueTimeout = TimeSpan.FromSeconds(1), TimeProvider = _time });
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = _time }.AddRateLimiter(limiter).Build();
        using var held = limiter.AttemptAcquire(1);

        for (var i = 0; i < WaitingCalls; i++)
        {
            var queued = pipeline.ExecuteOutcomeAsync(static (n, _) => new ValueTask<int>(n), i, _host.Token).AsTask();
            Assert.False(queued.IsCompleted);
            _time.Advance(TimeSpan.FromSeconds(1));
            Assert.True((await queued.WaitAsync(TimeSpan.FromSeconds(30))).IsRejected);
        }

        Assert.Equal(0, TokenRegistrations.Count(_host));
    }

    [Fact]
    public async Task Limiter_waits_cut_short_by_an_outer_timeout_leave_nothing()
    {
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 10 });
        using var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 0.001, Burst = 1, MaxWait = TimeSpan.FromDays(1), TimeProvider = _time });
        var timeout = new TimeoutOptions { Timeout = TimeSpan.FromSeconds(1), TimeProvider = _time };
        var queueing = new ResiliencePipelineBuilder { TimeProvider = _time }.AddTimeout(timeout).AddRateLimiter(limiter).Build();
        var waiting = new ResiliencePipelineBuilder { TimeProvider = _time }.AddTimeout(timeout).AddRateLimiter(bucket).Build();
        using var held = limiter.AttemptAcquire(1);
        using var taken = bucket.AttemptAcquire(1);

        for (var i = 0; i < WaitingCalls; i++)
        {
            var queued = queueing.ExecuteOutcomeAsync(static (n, _) => new ValueTask<int>(n), i, _host.Token).AsTask();
            var waited = waiting.ExecuteOutcomeAsync(static (n, _) => new ValueTask<int>(n), i, _host.Token).AsTask();
            Assert.False(queued.IsCompleted || waited.IsCompleted);
            _time.Advance(TimeSpan.FromSeconds(1));
            Assert.IsType<TimeoutRejectedException>((await queued.WaitAsync(TimeSpan.FromSeconds(30))).Exception);
            Assert.IsType<TimeoutRejectedException>((await waited.WaitAsync(TimeSpan.FromSeconds(30))).Exception);
        }

        Assert.Equal(0, TokenRegistrations.Count(_host));
    }

    [Fact]
    public async Task Synchronous_calls_that_wait_in_a_queue_leave_nothing()
    {
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 10 });
        var pipeline = new ResiliencePipelineBuilder().AddTimeout(TimeSpan.FromMinutes(1)).AddRateLimiter(limiter).Build();

        for (var i = 0; i < WaitingCalls; i++)
        {
            var held = limiter.AttemptAcquire(1);
            Assert.True(held.IsAcquired);
            var release = Task.Run(() =>
            {
                // Released once the synchronous call below is queued.
                Assert.True(SpinWait.SpinUntil(() => limiter.GetStatistics()!.CurrentQueuedCount == 1, TimeSpan.FromSeconds(30)));
                held.Dispose();
            });
            Assert.Equal(i, pipeline.Execute(static (n, _) => n, i, _host.Token));
            await release.WaitAsync(TimeSpan.FromSeconds(30));
        }

        Assert.Equal(0, TokenRegistrations.Count(_host));
    }

    private async Task AssertQueuedWaitsLeaveNothing(ResiliencePipeline pipeline, RateLimiter limiter)
    {
        for (var i = 0; i < WaitingCalls; i++)
        {
            using (var held = await limiter.AcquireAsync(1, _host.Token))
            {
                Assert.True(held.IsAcquired);
                var queued = pipeline.ExecuteAsync(static (n, _) => new ValueTask<int>(n), i, _host.Token).AsTask();
                var acquisition = limiter.AcquireAsync(1, _host.Token).AsTask();
                Assert.False(queued.IsCompleted || acquisition.IsCompleted);
                held.Dispose();
                Assert.Equal(i, await queued.WaitAsync(TimeSpan.FromSeconds(30)));
                using var lease = await acquisition.WaitAsync(TimeSpan.FromSeconds(30));
                Assert.True(lease.IsAcquired);
            }

            Assert.Equal(0, limiter.GetStatistics()!.CurrentQueuedCount);
        }

        Assert.Equal(0, TokenRegistrations.Count(_host));
    }
}
