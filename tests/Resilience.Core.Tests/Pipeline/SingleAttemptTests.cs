using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;
using Resilience.Telemetry;

namespace Resilience.Tests.Pipeline;

/// <summary>
/// A call that is one attempt by nature (a stream) runs through a pipeline's admission and recording strategies only:
/// <see cref="ResiliencePipeline.ExecuteSingleAttemptOutcomeAsync{TResult, TState}"/>.
/// </summary>
public class SingleAttemptTests
{
    /// <summary>Three retries without delay or jitter.</summary>
    internal static readonly RetryOptions ImmediateRetries = new() { MaxRetryAttempts = 3, Delay = TimeSpan.Zero, UseJitter = false };

    /// <summary>A breaker that a test's few failures never open (100 calls at least), open a minute when it does.</summary>
    internal static Resilience.CircuitBreaker Breaker() =>
        new(new CircuitBreakerOptions { FailureRatio = 0.5, MinimumThroughput = 100, BreakDuration = TimeSpan.FromMinutes(1) });

    [Fact]
    public async Task Retries_timeouts_and_fallbacks_stand_aside_and_the_breaker_records_the_one_failure()
    {
        var breaker = Breaker();
        var time = new FakeTimeProvider();
        var fallback = new FallbackStrategy<string>(new FallbackOptions<string> { Levels = { FallbackLevel<string>.FromValue("default", "fallback") } });
        var pipeline = new ResiliencePipelineBuilder()
            .AddStrategy(fallback, static _ => true)
            .AddRetry(ImmediateRetries, static _ => true)
            .AddCircuitBreaker(breaker, static _ => true)
            .AddTimeout(new TimeoutOptions { Timeout = TimeSpan.FromSeconds(1), TimeProvider = time })
            .Build();
        using var caller = new CancellationTokenSource();
        var invocations = 0;
        CancellationToken seen = default;
        var failure = new InvalidOperationException("the stream broke");

        var outcome = await pipeline.ExecuteSingleAttemptOutcomeAsync<string, int>(
            (_, token) =>
            {
                invocations++;
                seen = token;
                return ValueTask.FromException<string>(failure);
            },
            0,
            caller.Token);

        Assert.Same(failure, outcome.Exception);
        Assert.Equal(1, invocations);
        Assert.Equal(caller.Token, seen);
        Assert.Equal((1L, 1L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));

        // The same pipeline, run as usual, retries three times and falls back: the view left the pipeline as it was.
        invocations = 0;
        var usual = await pipeline.ExecuteOutcomeAsync<string, int>((_, _) => { invocations++; return ValueTask.FromException<string>(failure); }, 0);
        Assert.Equal(("fallback", 4), (usual.Result, invocations));
    }

    [Theory]
    [InlineData(ExitActionKind.Retry)]
    [InlineData(ExitActionKind.Fallback)]
    public async Task A_retry_or_fallback_that_a_strategy_of_ones_own_asks_for_is_not_taken(ExitActionKind kind)
    {
        var asking = new RecordingStrategy("asking")
        {
            // Asks once: were it taken, the call would be invoked twice (a retry) or replaced (a fallback), not loop.
            OnExit = (outcome, exits) => outcome.IsHandled && exits == 1
                ? (kind == ExitActionKind.Retry ? ExitAction.Retry(TimeSpan.Zero) : ExitAction.Fallback)
                : ExitAction.Continue,
            Fallback = _ => new Outcome<string>("replaced"),
        };
        var pipeline = new ResiliencePipelineBuilder().AddStrategy(asking, static _ => true).Build();
        var failure = new InvalidOperationException("the stream broke");
        var invocations = 0;

        var outcome = await pipeline.ExecuteSingleAttemptOutcomeAsync<string, int>((_, _) => { invocations++; return ValueTask.FromException<string>(failure); }, 0);

        Assert.Same(failure, outcome.Exception);
        Assert.Equal(1, invocations);
        Assert.Equal(1, asking.Exits);
        Assert.DoesNotContain("fallback asking", asking.Log);
    }

    [Fact]
    public async Task A_limiters_permit_is_held_until_the_callback_completes_and_is_released_once()
    {
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1 });
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(limiter).Build();
        var streamEnded = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);

        var holding = pipeline.ExecuteSingleAttemptOutcomeAsync(static (ended, _) => new ValueTask<string>(ended.Task), streamEnded);
        Assert.False(holding.IsCompleted);
        Assert.Equal(0, limiter.GetStatistics()!.CurrentAvailablePermits);

        var refused = await pipeline.ExecuteSingleAttemptOutcomeAsync(static (_, _) => new ValueTask<string>("never"), 0);
        Assert.True(refused.IsRejected);
        Assert.Equal(RejectionReason.RateLimited, refused.Rejection.Reason);

        streamEnded.SetResult("done");
        Assert.Equal("done", (await holding).Result);
        Assert.Equal(1, limiter.GetStatistics()!.CurrentAvailablePermits);
    }

    [Fact]
    public async Task An_open_circuit_rejects_without_invoking_the_callback_and_the_callers_cancellation_is_not_recorded()
    {
        var breaker = Breaker();
        var pipeline = new ResiliencePipelineBuilder().AddRetry(ImmediateRetries, static _ => true).AddCircuitBreaker(breaker, static _ => true).Build();
        using var caller = new CancellationTokenSource();
        await caller.CancelAsync();

        var cancelled = await pipeline.ExecuteSingleAttemptOutcomeAsync<string, CancellationToken>(
            static (token, _) => ValueTask.FromException<string>(new OperationCanceledException(token)), caller.Token, caller.Token);
        Assert.IsType<OperationCanceledException>(cancelled.Exception);
        Assert.Equal(0L, breaker.GetSnapshot().Calls);

        breaker.Isolate();
        var invocations = 0;
        var refused = await pipeline.ExecuteSingleAttemptOutcomeAsync<string, int>((_, _) => { invocations++; return new ValueTask<string>("never"); }, 0);

        Assert.True(refused.IsRejected);
        Assert.Equal(RejectionReason.IsolatedCircuit, refused.Rejection.Reason);
        Assert.Equal(0, invocations);
    }

    [Fact]
    public async Task An_instrumented_pipeline_counts_a_single_attempt_once_and_its_quiet_form_still_admits_and_records()
    {
        using var telemetry = new ResilienceTelemetry();
        var breaker = Breaker();
        var pipeline = new ResiliencePipelineBuilder { Name = "streams" }
            .AddTelemetry(telemetry)
            .AddRetry(ImmediateRetries, static _ => true)
            .AddCircuitBreaker(breaker, static _ => true)
            .Build();
        var failure = new InvalidOperationException("the stream broke");

        // Nobody listens yet: the engine runs the view's quiet form, without its telemetry strategy.
        var quiet = await pipeline.ExecuteSingleAttemptOutcomeAsync<string, int>((_, _) => ValueTask.FromException<string>(failure), 0);
        Assert.Same(failure, quiet.Exception);
        Assert.Equal((1L, 1L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));

        using var calls = new MetricCollector<long>(telemetry.Meter, "resilience.pipeline.calls");
        var invocations = 0;
        var recorded = await pipeline.ExecuteSingleAttemptOutcomeAsync<string, int>((_, _) => { invocations++; return ValueTask.FromException<string>(failure); }, 0);

        Assert.Same(failure, recorded.Exception);
        Assert.Equal(1, invocations);
        Assert.Equal((2L, 2L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
        var measurement = Assert.Single(calls.GetMeasurementSnapshot());
        Assert.Equal((1L, "failure", "streams"), (measurement.Value, (string)measurement.Tags["outcome"]!, (string)measurement.Tags["pipeline"]!));
    }
}
