using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Cancellation;

/// <summary>
/// A caller cancelling at the moment something else ends a wait, on two real threads released together: whichever wins,
/// the call ends with its result (or the other end's own outcome) or with the caller's cancellation, no permit is lost or
/// released twice, and a breaker never counts the caller's cancellation as a failure.
/// </summary>
public class CancellationRaceTests
{
    private const int Rounds = 300;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Cancelling_as_a_queued_permit_is_granted_loses_no_permit()
    {
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { MinimumThroughput = 2, BreakDuration = TimeSpan.FromMinutes(1) });
        var pipeline = new ResiliencePipelineBuilder().AddCircuitBreaker(breaker).AddRateLimiter(limiter).Build();
        var (served, cancelled) = (0, 0);

        for (var i = 0; i < Rounds; i++)
        {
            using var caller = new CancellationTokenSource();
            var held = limiter.AttemptAcquire(1);
            Assert.True(held.IsAcquired);
            var call = pipeline.ExecuteOutcomeAsync(static (n, ct) => { ct.ThrowIfCancellationRequested(); return new ValueTask<int>(n); }, i, caller.Token).AsTask();
            Assert.False(call.IsCompleted);

            await Race(held.Dispose, caller.Cancel);
            var outcome = await call.WaitAsync(Bound);

            if (outcome.IsSuccess)
            {
                Assert.Equal(i, outcome.Result);
                served++;
            }
            else
            {
                Assert.Equal(caller.Token, Assert.IsAssignableFrom<OperationCanceledException>(outcome.Exception).CancellationToken);
                cancelled++;
            }

            var statistics = limiter.GetStatistics()!;
            Assert.Equal((1L, 0L), (statistics.CurrentAvailablePermits, statistics.CurrentQueuedCount));
        }

        Assert.Equal(Rounds, served + cancelled);
        Assert.Equal((CircuitState.Closed, 0L), (breaker.State, breaker.GetSnapshot().Failures));
    }

    [Fact]
    public async Task Cancelling_as_a_token_bucket_wait_ends_takes_the_permit_at_most_once()
    {
        var time = new FakeTimeProvider();
        using var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 1, MaxWait = TimeSpan.FromSeconds(10), TimeProvider = time });
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }.AddRateLimiter(bucket).Build();

        for (var i = 0; i < Rounds; i++)
        {
            using var caller = new CancellationTokenSource();
            Assert.True(bucket.AttemptAcquire(1).IsAcquired || i > 0);
            var call = pipeline.ExecuteOutcomeAsync(static (n, ct) => { ct.ThrowIfCancellationRequested(); return new ValueTask<int>(n); }, i, caller.Token).AsTask();
            Assert.False(call.IsCompleted);

            await Race(() => time.Advance(TimeSpan.FromSeconds(1)), caller.Cancel);
            var outcome = await call.WaitAsync(Bound);
            if (!outcome.IsSuccess)
            {
                Assert.Equal(caller.Token, Assert.IsAssignableFrom<OperationCanceledException>(outcome.Exception).CancellationToken);
            }

            // Served, it took the permit that came; cancelled before its time, it gave its slot back and the permit is
            // there (after its time, it was served and the permit is gone). Either way no permit is left over or owed.
            var free = bucket.AttemptAcquire(1);
            Assert.Equal(0, bucket.GetStatistics()!.CurrentQueuedCount);
            if (!free.IsAcquired)
            {
                time.Advance(TimeSpan.FromSeconds(1));
                Assert.True(bucket.AttemptAcquire(1).IsAcquired);
            }

            Assert.False(bucket.AttemptAcquire(1).IsAcquired);
        }
    }

    [Fact]
    public async Task Cancelling_as_a_timeout_fires_is_never_a_failure_blamed_on_the_caller()
    {
        var time = new FakeTimeProvider();
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { MinimumThroughput = 1000, SamplingDuration = TimeSpan.FromHours(1), BreakDuration = TimeSpan.FromMinutes(1), TimeProvider = time });
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddCircuitBreaker(breaker)
            .AddTimeout(new TimeoutOptions { Timeout = TimeSpan.FromSeconds(1), TimeProvider = time })
            .Build();
        var timedOut = 0L;

        for (var i = 0; i < Rounds; i++)
        {
            var failures = breaker.GetSnapshot().Failures;
            using var caller = new CancellationTokenSource();
            var call = pipeline.ExecuteOutcomeAsync(static async (n, ct) => { await Task.Delay(System.Threading.Timeout.InfiniteTimeSpan, ct); return n; }, i, caller.Token).AsTask();

            // Every other round the timer is not due: only the caller's cancel can end that call.
            var due = i % 2 == 0;
            await Race(() => time.Advance(TimeSpan.FromSeconds(due ? 1 : 0.5)), caller.Cancel);
            var outcome = await call.WaitAsync(Bound);
            var counted = breaker.GetSnapshot().Failures - failures;
            if (outcome.Exception is TimeoutRejectedException)
            {
                // A failure, unless the caller had cancelled by the time the breaker judged it.
                Assert.True(due);
                Assert.InRange(counted, 0, 1);
                timedOut++;
            }
            else
            {
                Assert.Equal(caller.Token, Assert.IsAssignableFrom<OperationCanceledException>(outcome.Exception).CancellationToken);
                Assert.Equal(0, counted);
            }
        }

        Assert.InRange(breaker.GetSnapshot().Failures, 0, timedOut);
    }

    [Fact]
    public async Task Cancelling_as_a_retry_delay_ends_is_the_callers_cancellation_or_the_retried_result()
    {
        var time = new FakeTimeProvider();
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { MinimumThroughput = 1000, SamplingDuration = TimeSpan.FromHours(1), BreakDuration = TimeSpan.FromMinutes(1), TimeProvider = time });
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.FromSeconds(1), Backoff = RetryBackoff.Constant, UseJitter = false })
            .AddCircuitBreaker(breaker)
            .Build();

        for (var i = 0; i < Rounds; i++)
        {
            using var caller = new CancellationTokenSource();
            var attempts = 0;
            var call = pipeline.ExecuteOutcomeAsync(
                (n, ct) =>
                {
                    ct.ThrowIfCancellationRequested();
                    return ++attempts == 1 ? ValueTask.FromException<int>(new IOException()) : new ValueTask<int>(n);
                },
                i,
                caller.Token).AsTask();
            Assert.False(call.IsCompleted);

            await Race(() => time.Advance(TimeSpan.FromSeconds(1)), caller.Cancel);
            var outcome = await call.WaitAsync(Bound);
            if (outcome.IsSuccess)
            {
                Assert.Equal(i, outcome.Result);
            }
            else
            {
                Assert.Equal(caller.Token, Assert.IsAssignableFrom<OperationCanceledException>(outcome.Exception).CancellationToken);
            }

            // Only the first attempts failed: a second attempt that saw the cancellation is no failure.
            Assert.Equal(i + 1, breaker.GetSnapshot().Failures);
        }
    }

    [Fact]
    public async Task Cancelling_as_a_fallback_starts_is_the_callers_cancellation_or_the_fallback()
    {
        var time = new FakeTimeProvider();
        var fallback = new FallbackOptions<int>();
        fallback.Levels.Add(new FallbackLevel<int>("spare", static a => { a.CancellationToken.ThrowIfCancellationRequested(); return new ValueTask<int>(-1); }));
        var pipeline = new ResiliencePipelineBuilder<int> { TimeProvider = time }
            .AddFallback(fallback)
            .AddTimeout(new TimeoutOptions { Timeout = TimeSpan.FromSeconds(1), TimeProvider = time })
            .Build();

        for (var i = 0; i < Rounds; i++)
        {
            using var caller = new CancellationTokenSource();
            var call = pipeline.ExecuteOutcomeAsync(static async (n, ct) => { await Task.Delay(System.Threading.Timeout.InfiniteTimeSpan, ct); return n; }, i, caller.Token).AsTask();

            await Race(() => time.Advance(TimeSpan.FromSeconds(1)), caller.Cancel);
            var outcome = await call.WaitAsync(Bound);
            if (outcome.IsSuccess)
            {
                Assert.Equal(-1, outcome.Result);
            }
            else if (outcome.Exception is TimeoutRejectedException)
            {
                // The timeout came first and the caller cancelled before the fallback judged it: a fallback never runs
                // once its caller has cancelled (nobody waits for it), so the real timeout stands.
                Assert.True(caller.IsCancellationRequested);
            }
            else
            {
                Assert.Equal(caller.Token, Assert.IsAssignableFrom<OperationCanceledException>(outcome.Exception).CancellationToken);
            }
        }
    }

    /// <summary>Runs <paramref name="first"/> here and <paramref name="second"/> on another thread, released together.</summary>
    private static async Task Race(Action first, Action second)
    {
        using var start = new Barrier(2);
        var other = Task.Factory.StartNew(
            () =>
            {
                Assert.True(start.SignalAndWait(Bound));
                second();
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
        Assert.True(start.SignalAndWait(Bound));
        first();
        await other.WaitAsync(Bound);
    }
}
