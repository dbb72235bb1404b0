using System.Threading.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Exceptions;

/// <summary>
/// The non-throwing forms carry failures as values: the library itself must throw nothing on the way (a first-chance
/// exception costs microseconds, and floods a debugger or a first-chance logger), beyond what the caller's code throws.
/// </summary>
public class FirstChanceExceptionTests
{
    [Fact]
    public async Task Rejections_by_a_breaker_and_a_limiter_raise_no_first_chance_exception()
    {
        var time = new FakeTimeProvider();
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { TimeProvider = time });
        breaker.Isolate();
        var isolated = new ResiliencePipelineBuilder().AddCircuitBreaker(breaker).Build();
        var limited = new ResiliencePipelineBuilder()
            .AddRateLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 1, TimeProvider = time })
            .Build();

        Outcome<int> breakerSync, breakerAsync, limiterSync, limiterAsync;
        IReadOnlyList<Exception> seen;
        using (var recorder = FirstChanceRecorder.Start())
        {
            breakerSync = isolated.ExecuteOutcome(static (_, _) => 1, 0);
            breakerAsync = await isolated.ExecuteOutcomeAsync(static (_, _) => new ValueTask<int>(1), 0);
            Assert.True(limited.ExecuteOutcome(static (_, _) => 1, 0).IsSuccess);
            limiterSync = limited.ExecuteOutcome(static (_, _) => 1, 0);
            limiterAsync = await limited.ExecuteOutcomeAsync(static (_, _) => new ValueTask<int>(1), 0);
            seen = recorder.Seen;
        }

        Assert.Equal(RejectionReason.IsolatedCircuit, breakerSync.Rejection.Reason);
        Assert.Equal(RejectionReason.IsolatedCircuit, breakerAsync.Rejection.Reason);
        Assert.Equal(RejectionReason.RateLimited, limiterSync.Rejection.Reason);
        Assert.Equal(RejectionReason.RateLimited, limiterAsync.Rejection.Reason);
        Assert.Empty(seen);
    }

    [Fact]
    public async Task Failures_retried_to_the_end_raise_no_first_chance_exception()
    {
        var failure = new InvalidOperationException("down");
        var pipeline = new ResiliencePipelineBuilder()
            .AddRetry(new RetryOptions { MaxRetryAttempts = 3, Delay = TimeSpan.Zero })
            .Build();

        Outcome<int> outcome;
        IReadOnlyList<Exception> seen;
        using (var recorder = FirstChanceRecorder.Start())
        {
            outcome = await pipeline.ExecuteOutcomeAsync((_, _) => ValueTask.FromException<int>(failure), 0);
            seen = recorder.Seen;
        }

        Assert.Same(failure, outcome.Exception);
        Assert.Empty(seen);
    }

    [Fact]
    public async Task Retry_delay_cut_short_by_an_outer_timeout_raises_no_first_chance_exception()
    {
        var time = new FakeTimeProvider();
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddTimeout(new TimeoutOptions { Timeout = TimeSpan.FromSeconds(1), TimeProvider = time })
            .AddRetry(new RetryOptions { MaxRetryAttempts = 3, Delay = TimeSpan.FromSeconds(10), UseJitter = false })
            .Build();
        var failure = new InvalidOperationException("down");

        Outcome<int> outcome;
        IReadOnlyList<Exception> seen;
        using (var recorder = FirstChanceRecorder.Start())
        {
            var call = pipeline.ExecuteOutcomeAsync((_, _) => ValueTask.FromException<int>(failure), 0);
            Assert.False(call.IsCompleted);
            time.Advance(TimeSpan.FromSeconds(5));
            outcome = await call.AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            seen = recorder.Seen;
        }

        var timeout = Assert.IsType<TimeoutRejectedException>(outcome.Exception);
        var cancelled = Assert.IsType<TaskCanceledException>(timeout.InnerException);
        Assert.True(cancelled.CancellationToken.IsCancellationRequested);
        Assert.Empty(seen);
    }

    public static TheoryData<string> QueuedLimiters => new() { "in-flight", "token-bucket", "partitioned" };

    [Theory]
    [MemberData(nameof(QueuedLimiters))]
    public async Task A_timeout_while_waiting_in_a_limiters_queue_raises_no_first_chance_exception(string kind)
    {
        var time = new FakeTimeProvider();
        var builder = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddTimeout(new TimeoutOptions { Timeout = TimeSpan.FromSeconds(1), TimeProvider = time });
        using var inFlight = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1, TimeProvider = time });
        using var partitioned = new BoundedPartitionedLimiter<string>(_ => new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 1 }));
        var pipeline = kind switch
        {
            "in-flight" => builder.AddRateLimiter(inFlight).Build(),
            "token-bucket" => builder.AddRateLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 0.1, Burst = 1, MaxWait = TimeSpan.FromSeconds(30), TimeProvider = time }).Build(),
            _ => builder.AddRateLimiter(partitioned, () => "tenant", waitForPermit: true).Build(),
        };

        // The first call takes the only permit and holds it (a bucket's is spent at once).
        var release = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var holder = pipeline.ExecuteOutcomeAsync((held, _) => new ValueTask<int>(held.Task), release);

        Outcome<int> outcome;
        IReadOnlyList<Exception> seen;
        using (var recorder = FirstChanceRecorder.Start())
        {
            var queued = pipeline.ExecuteOutcomeAsync(static (_, _) => new ValueTask<int>(1), 0);
            Assert.False(queued.IsCompleted);
            time.Advance(TimeSpan.FromSeconds(2));
            outcome = await queued.AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            seen = recorder.Seen;
        }

        release.SetResult(1);
        Assert.True((await holder.AsTask().WaitAsync(TimeSpan.FromSeconds(30))).IsSuccess);
        var timeout = Assert.IsType<TimeoutRejectedException>(outcome.Exception);
        Assert.IsAssignableFrom<OperationCanceledException>(timeout.InnerException);
        Assert.Empty(seen);
    }

    [Fact]
    public async Task Failing_fallback_levels_raise_no_first_chance_exception_of_their_own()
    {
        var primary = new InvalidOperationException("primary");
        var first = new IOException("first level");
        var last = new IOException("last level");
        var pipeline = new ResiliencePipelineBuilder<int>()
            .AddFallback(new FallbackOptions<int>
            {
                Levels =
                {
                    new FallbackLevel<int>("first", _ => ValueTask.FromException<int>(first), tryNextOnFailure: true),
                    new FallbackLevel<int>("last", _ => ValueTask.FromException<int>(last)),
                },
            })
            .Build();

        Outcome<int> asyncOutcome, syncOutcome;
        IReadOnlyList<Exception> seen;
        using (var recorder = FirstChanceRecorder.Start())
        {
            asyncOutcome = await pipeline.ExecuteOutcomeAsync((_, _) => ValueTask.FromException<int>(primary), 0);
            syncOutcome = pipeline.ExecuteOutcome<int>((_, _) => throw primary, 0);
            seen = recorder.Seen;
        }

        Assert.Same(last, asyncOutcome.Exception);
        Assert.Same(last, syncOutcome.Exception);
        Assert.Same(primary, last.Data[FallbackStrategy<int>.OriginalFailureKey]);
        Assert.Same(primary, first.Data[FallbackStrategy<int>.OriginalFailureKey]);

        // Only the synchronous callback's own throw.
        Assert.Same(primary, Assert.Single(seen));
    }
}
