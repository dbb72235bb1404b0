using Microsoft.Extensions.Time.Testing;
using Resilience.Tests.Time;

namespace Resilience.Tests.Retry;

public class RetryTests
{
    [Theory]
    [InlineData(RetryBackoff.Constant, new[] { 100, 100, 100, 100 })]
    [InlineData(RetryBackoff.Linear, new[] { 100, 200, 300, 400 })]
    [InlineData(RetryBackoff.Exponential, new[] { 100, 200, 400, 500 })]
    public void Backoff_delays_grow_as_configured_and_are_capped(RetryBackoff backoff, int[] expectedMs)
    {
        var options = new RetryOptions { Backoff = backoff, Delay = TimeSpan.FromMilliseconds(100), MaxDelay = TimeSpan.FromMilliseconds(500) };

        var delays = Enumerable.Range(1, 4).Select(n => (int)RetryStrategy.BackoffDelay(options, n).TotalMilliseconds);

        Assert.Equal(expectedMs, delays);
    }

    [Theory]
    [InlineData(RetryBackoff.Linear, 0)]
    [InlineData(RetryBackoff.Linear, -1)]
    [InlineData(RetryBackoff.Exponential, 0)]
    [InlineData(RetryBackoff.Exponential, int.MinValue)]
    public void Backoff_delay_refuses_a_retry_number_below_one_instead_of_a_negative_or_shrunken_delay(RetryBackoff backoff, int retry)
    {
        // A linear retry -1 was -200 ms; an exponential retry 0 half the base delay, and int.MinValue the cap.
        var options = new RetryOptions { Backoff = backoff, UseJitter = false };

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => RetryStrategy.BackoffDelay(options, retry));

        Assert.Equal("retry", error.ParamName);
    }

    [Fact]
    public void Backoff_delay_refuses_options_out_of_range_and_holds_the_cap_for_any_retry_number()
    {
        // A negative base delay gave negative delays: the options are checked as a strategy checks them.
        var negative = new RetryOptions { Backoff = RetryBackoff.Constant, Delay = TimeSpan.FromSeconds(-1) };
        Assert.Throws<ArgumentOutOfRangeException>(() => RetryStrategy.BackoffDelay(negative, 1));

        foreach (var backoff in new[] { RetryBackoff.Linear, RetryBackoff.Exponential })
        {
            var options = new RetryOptions { Backoff = backoff, Delay = TimeSpan.FromDays(1), MaxDelay = TimeSpan.FromDays(1) };
            Assert.Equal(TimeSpan.FromDays(1), RetryStrategy.BackoffDelay(options, int.MaxValue));
            Assert.Equal(TimeSpan.Zero, RetryStrategy.BackoffDelay(new RetryOptions { Backoff = backoff, Delay = TimeSpan.Zero }, int.MaxValue));
        }
    }

    [Fact]
    public async Task Retries_wait_the_backoff_on_the_pipeline_clock_then_succeed()
    {
        var time = new TimerCountingTimeProvider();
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 3, Backoff = RetryBackoff.Linear, Delay = TimeSpan.FromSeconds(1), UseJitter = false })
            .Build();
        var attempts = 0;

        var call = pipeline.ExecuteAsync(_ => ++attempts < 3 ? ValueTask.FromException<int>(new IOException()) : new ValueTask<int>(attempts)).AsTask();
        Assert.Equal(1, attempts);
        time.WaitForTimers(1);
        time.Advance(TimeSpan.FromSeconds(1));

        // The second attempt runs on a thread-pool thread: the clock moves again only once its delay is armed (a timer
        // armed after the move would start from the later time).
        time.WaitForTimers(2);
        Assert.Equal(2, attempts);
        time.Advance(TimeSpan.FromMilliseconds(1999));
        await Task.Delay(20);
        Assert.Equal(2, attempts);
        time.Advance(TimeSpan.FromMilliseconds(1));

        Assert.Equal(3, await call.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public void Gives_up_after_max_attempts_with_the_last_failure()
    {
        var pipeline = new ResiliencePipelineBuilder().AddRetry(new RetryOptions { MaxRetryAttempts = 2, Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero }).Build();
        var attempts = 0;

        var error = Assert.Throws<IOException>(() => pipeline.Execute<int>(_ => throw new IOException($"attempt {++attempts}")));

        Assert.Equal(3, attempts);
        Assert.Equal("attempt 3", error.Message);
    }

    [Fact]
    public async Task Decorrelated_jitter_stays_between_the_base_delay_and_three_times_the_previous_one_capped()
    {
        var time = new ImmediateTimeProvider();
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 50, Delay = TimeSpan.FromMilliseconds(10), MaxDelay = TimeSpan.FromSeconds(1), JitterSeed = 3 })
            .Build();

        await pipeline.ExecuteOutcomeAsync(static (_, _) => ValueTask.FromException<int>(new IOException()), 0);

        var delays = time.Delays;
        Assert.Equal(50, delays.Count);
        var previous = TimeSpan.FromMilliseconds(10);
        foreach (var delay in delays)
        {
            Assert.InRange(delay, TimeSpan.FromMilliseconds(10), TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(1).Ticks, 3 * previous.Ticks)));
            previous = delay;
        }

        Assert.True(delays.Distinct().Count() > 25, string.Join(", ", delays.Select(d => d.TotalMilliseconds)));
        Assert.Contains(delays, d => d == TimeSpan.FromSeconds(1));
    }

    [Theory]
    [InlineData(RetryBackoff.Constant)]
    [InlineData(RetryBackoff.Linear)]
    public async Task Jitter_spreads_a_constant_or_linear_backoff_around_its_own_delay(RetryBackoff backoff)
    {
        // Decorrelated jitter replaced these backoffs: a constant 1 s retry waited 1.3, 2.9, then 5.7 s.
        var time = new ImmediateTimeProvider();
        var options = new RetryOptions { Backoff = backoff, MaxRetryAttempts = 20, Delay = TimeSpan.FromSeconds(1), MaxDelay = TimeSpan.FromSeconds(12), JitterSeed = 3 };
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }.AddRetry(options).Build();

        await pipeline.ExecuteOutcomeAsync(static (_, _) => ValueTask.FromException<int>(new IOException()), 0);

        var delays = time.Delays;
        Assert.Equal(20, delays.Count);
        for (var retry = 1; retry <= delays.Count; retry++)
        {
            var backoffDelay = RetryStrategy.BackoffDelay(options, retry);
            Assert.InRange(delays[retry - 1], backoffDelay * 0.75, TimeSpan.FromTicks(Math.Min((backoffDelay * 1.25).Ticks, options.MaxDelay.Ticks)));
        }

        Assert.True(delays.Distinct().Count() > 10, string.Join(", ", delays.Select(d => d.TotalMilliseconds)));
    }

    [Fact]
    public async Task Retry_after_hint_from_a_rejection_is_honoured_up_to_the_cap_and_rejections_are_retried_only_when_asked()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 1, TimeProvider = time });
        bucket.AttemptAcquire();
        var retrying = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryOptions { RetryRateLimited = true, UseJitter = false, MaxRetryAfter = TimeSpan.FromSeconds(5) })
            .AddRateLimiter(bucket)
            .Build();
        var plain = new ResiliencePipelineBuilder().AddRetry(new RetryOptions()).AddRateLimiter(bucket).Build();

        Assert.True(plain.ExecuteOutcome(static (_, _) => 1, 0).IsRejected);
        var call = retrying.ExecuteOutcomeAsync(static (_, _) => new ValueTask<int>(7), 0).AsTask();
        Assert.False(call.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(7, (await call).Result);
    }

    [Fact]
    public async Task A_hint_the_typed_pipeline_reads_from_a_failed_result_replaces_the_delay_up_to_the_cap()
    {
        var time = new FakeTimeProvider();
        var pipeline = new ResiliencePipelineBuilder<int> { TimeProvider = time, RetryAfterHint = static o => o.Result == 503 ? TimeSpan.FromSeconds(7) : null }
            .AddRetry(new RetryOptions { Delay = TimeSpan.FromHours(1), MaxDelay = TimeSpan.FromHours(1), UseJitter = false, MaxRetryAfter = TimeSpan.FromSeconds(10) }, static o => o.Result >= 500)
            .Build();
        var attempts = 0;

        var call = pipeline.ExecuteAsync(_ => new ValueTask<int>(++attempts == 1 ? 503 : 200)).AsTask();
        time.Advance(TimeSpan.FromMilliseconds(6999));
        await Task.Delay(20);
        Assert.Equal(1, attempts);
        time.Advance(TimeSpan.FromMilliseconds(1));

        Assert.Equal(200, await call.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(2, attempts);

        // A hint longer than MaxRetryAfter ends the retries: the failed result is the outcome.
        var capped = new ResiliencePipelineBuilder<int> { TimeProvider = time, RetryAfterHint = static _ => TimeSpan.FromSeconds(11) }
            .AddRetry(new RetryOptions { MaxRetryAfter = TimeSpan.FromSeconds(10) }, static o => o.Result >= 500)
            .Build();
        Assert.Equal(503, capped.Execute(static _ => 503));
    }

    [Fact]
    public async Task An_untyped_pipeline_reads_hints_from_handled_exceptions_only()
    {
        var time = new FakeTimeProvider();
        var readings = 0;
        var pipeline = new ResiliencePipelineBuilder
            {
                TimeProvider = time,
                RetryAfterHint = e => { readings++; return e is TimeoutException ? TimeSpan.FromSeconds(2) : null; },
            }
            .AddRetry(new RetryOptions { Delay = TimeSpan.FromHours(1), MaxDelay = TimeSpan.FromHours(1), UseJitter = false })
            .Build();
        var attempts = 0;

        var call = pipeline.ExecuteAsync(_ => ++attempts == 1 ? ValueTask.FromException<int>(new TimeoutException()) : new ValueTask<int>(attempts)).AsTask();
        time.Advance(TimeSpan.FromSeconds(2));

        Assert.Equal(2, await call.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(1, readings);
    }

    [Fact]
    public async Task A_retry_re_enters_the_breaker_inside_it_on_every_attempt()
    {
        var time = new FakeTimeProvider();
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { MinimumThroughput = 3, FailureRatio = 1, TimeProvider = time });
        var pipeline = new ResiliencePipelineBuilder()
            .AddRetry(new RetryOptions { MaxRetryAttempts = 5, Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero })
            .AddCircuitBreaker(breaker)
            .Build();
        var attempts = 0;

        var outcome = await pipeline.ExecuteOutcomeAsync((_, _) => { attempts++; return ValueTask.FromException<int>(new IOException()); }, 0);

        Assert.Equal(3, attempts);
        Assert.Equal(CircuitState.Open, breaker.State);
        Assert.True(outcome.IsRejected);
        Assert.Equal(RejectionReason.BrokenCircuit, outcome.Rejection.Reason);
    }

    [Fact]
    public async Task Caller_cancellation_and_an_outer_timeout_are_never_retried()
    {
        var time = new FakeTimeProvider();
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddTimeout(TimeSpan.FromSeconds(1))
            .AddRetry(new RetryOptions { MaxRetryAttempts = 10, Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero })
            .Build();
        using var caller = new CancellationTokenSource();
        var attempts = 0;

        await pipeline.ExecuteOutcomeAsync((_, ct) => { attempts++; caller.Cancel(); return ValueTask.FromCanceled<int>(ct); }, 0, caller.Token);
        Assert.Equal(1, attempts);

        var slow = pipeline.ExecuteOutcomeAsync(async (_, ct) => { attempts++; await Task.Delay(System.Threading.Timeout.InfiniteTimeSpan, ct); return 0; }, 0).AsTask();
        time.Advance(TimeSpan.FromSeconds(2));
        var outcome = await slow;
        Assert.Equal(2, attempts);
        Assert.IsType<TimeoutRejectedException>(outcome.Exception);
    }

    [Theory]
    [InlineData(nameof(RetryOptions.MaxRetryAttempts), "must be in [0, 100]")]
    [InlineData(nameof(RetryOptions.Delay), "must be in [00:00:00, 1.00:00:00]")]
    [InlineData(nameof(RetryOptions.MaxDelay), "must be in [00:00:00.2000000, 1.00:00:00]")]
    [InlineData(nameof(RetryOptions.MaxRetryAfter), "must be in [00:00:00, 1.00:00:00]")]
    public void Validation_names_the_option_and_its_range(string option, string range)
    {
        var options = new RetryOptions();
        switch (option)
        {
            case nameof(RetryOptions.MaxRetryAttempts): options.MaxRetryAttempts = 101; break;
            case nameof(RetryOptions.Delay): options.Delay = TimeSpan.FromSeconds(-1); break;
            case nameof(RetryOptions.MaxDelay): options.MaxDelay = TimeSpan.FromMilliseconds(10); break;
            default: options.MaxRetryAfter = TimeSpan.FromDays(2); break;
        }

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new RetryStrategy(options));

        Assert.Contains($"RetryOptions.{option} {range}", error.Message, StringComparison.Ordinal);
    }
}
