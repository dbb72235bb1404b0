using System.Reflection;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;
using Resilience.Telemetry;
using Resilience.Tests.Pipeline;

namespace Resilience.Tests.Cancellation;

/// <summary>
/// A token already cancelled when a call starts: no strategy enters, nothing is acquired or consumed, the callback is
/// not invoked, and every form ends with an <see cref="OperationCanceledException"/> carrying the caller's token, as a
/// callback cancelled by its caller ends (the throwing asynchronous forms with a cancelled task, never a faulted one).
/// The callbacks here ignore their token: whatever one would do, it must not run.
/// </summary>
public class CancelledAtStartTests
{
    public static TheoryData<string> Pipelines => new() { "empty", "timeout", "retry", "all", "long" };

    [Theory]
    [MemberData(nameof(Pipelines))]
    public async Task Every_form_ends_with_the_callers_cancellation_and_runs_nothing(string kind)
    {
        var time = new FakeTimeProvider();
        using var caller = new CancellationTokenSource();
        await caller.CancelAsync();
        var token = caller.Token;
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { MinimumThroughput = 2, TimeProvider = time });
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var untyped = new ResiliencePipelineBuilder { TimeProvider = time };
        var typed = new ResiliencePipelineBuilder<int> { TimeProvider = time };
        if (kind is "retry" or "all" or "long")
        {
            untyped.AddRetry(new RetryOptions { Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero });
            typed.AddRetry(new RetryOptions { Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero });
        }

        if (kind is "all" or "long")
        {
            untyped.AddCircuitBreaker(breaker).AddRateLimiter(limiter);
            typed.AddCircuitBreaker(breaker).AddRateLimiter(limiter);
        }

        if (kind is "timeout" or "all" or "long")
        {
            untyped.AddTimeout(new TimeoutOptions { Timeout = TimeSpan.FromSeconds(1), TimeProvider = time });
            typed.AddTimeout(new TimeoutOptions { Timeout = TimeSpan.FromSeconds(1), TimeProvider = time });
        }

        if (kind is "long")
        {
            // Past the fast path's inline slots: the general interpreter runs the call from its start.
            for (var i = 0; i < 8; i++)
            {
                untyped.AddStrategy(new RecordingStrategy($"pad{i}"));
                typed.AddStrategy(new RecordingStrategy($"pad{i}"));
            }
        }

        var pipeline = untyped.Build();
        var typedPipeline = typed.Build();
        var runs = 0;
        int Run() => ++runs;

        // The throwing asynchronous forms: a cancelled task, at once.
        var tasks = new List<Task>
        {
            pipeline.ExecuteAsync((_, _) => new ValueTask<int>(Run()), 0, token).AsTask(),
            pipeline.ExecuteAsync(_ => new ValueTask<int>(Run()), token).AsTask(),
            pipeline.ExecuteAsync((_, _) => { Run(); return ValueTask.CompletedTask; }, 0, token).AsTask(),
            pipeline.ExecuteAsync(_ => { Run(); return ValueTask.CompletedTask; }, token).AsTask(),
            typedPipeline.ExecuteAsync((_, _) => new ValueTask<int>(Run()), 0, token).AsTask(),
            typedPipeline.ExecuteAsync(_ => new ValueTask<int>(Run()), token).AsTask(),
        };
        Assert.All(tasks, task => Assert.True(task.IsCanceled, $"status {task.Status}"));
        var failures = new List<Exception?>();
        foreach (var task in tasks)
        {
            failures.Add(await Record.ExceptionAsync(() => task));
        }

        // The non-throwing forms return the cancellation; the throwing synchronous forms throw it.
        var outcomes = new[]
        {
            pipeline.ExecuteOutcomeAsync((_, _) => new ValueTask<int>(Run()), 0, token),
            pipeline.ExecuteSingleAttemptOutcomeAsync((_, _) => new ValueTask<int>(Run()), 0, token),
            typedPipeline.ExecuteOutcomeAsync((_, _) => new ValueTask<int>(Run()), 0, token),
        };
        Assert.All(outcomes, outcome => Assert.True(outcome.IsCompleted));
        foreach (var outcome in outcomes)
        {
            failures.Add((await outcome).Exception);
        }

        failures.Add(pipeline.ExecuteOutcome((_, _) => Run(), 0, token).Exception);
        failures.Add(typedPipeline.ExecuteOutcome((_, _) => Run(), 0, token).Exception);
        failures.Add(Record.Exception(() => pipeline.Execute((_, _) => Run(), 0, token)));
        failures.Add(Record.Exception(() => pipeline.Execute(_ => Run(), token)));
        failures.Add(Record.Exception(() => pipeline.Execute(_ => { Run(); }, token)));
        failures.Add(Record.Exception(() => pipeline.Execute((int _, CancellationToken _) => { Run(); }, 0, token)));
        failures.Add(Record.Exception(() => typedPipeline.Execute((_, _) => Run(), 0, token)));
        failures.Add(Record.Exception(() => typedPipeline.Execute(_ => Run(), token)));

        Assert.Equal(17, failures.Count);
        Assert.All(failures, failure => Assert.Equal(token, Assert.IsAssignableFrom<OperationCanceledException>(failure).CancellationToken));
        Assert.Equal(0, runs);
        Assert.Equal((CircuitState.Closed, 0L, 0L), (breaker.State, breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
        var statistics = limiter.GetStatistics()!;
        Assert.Equal((1L, 0L, 0L, 0L), (statistics.CurrentAvailablePermits, statistics.CurrentQueuedCount, statistics.TotalSuccessfulLeases, statistics.TotalFailedLeases));
    }

    [Fact]
    public async Task A_token_bucket_keeps_its_permits()
    {
        var time = new FakeTimeProvider();
        using var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 2, TimeProvider = time });
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }.AddRateLimiter(bucket).Build();
        using var caller = new CancellationTokenSource();
        await caller.CancelAsync();
        var runs = 0;

        for (var i = 0; i < 5; i++)
        {
            Assert.IsAssignableFrom<OperationCanceledException>(pipeline.ExecuteOutcome((_, _) => ++runs, 0, caller.Token).Exception);
            Assert.IsAssignableFrom<OperationCanceledException>((await pipeline.ExecuteOutcomeAsync((_, _) => new ValueTask<int>(++runs), 0, caller.Token)).Exception);
        }

        // A storm of cancelled calls drains nothing: the next calls get the bucket's two permits.
        Assert.Equal(0, runs);
        Assert.Equal((2L, 0L), (bucket.GetStatistics()!.CurrentAvailablePermits, bucket.GetStatistics()!.TotalSuccessfulLeases));
        Assert.Equal(1, pipeline.ExecuteOutcome((_, _) => 1, 0).Result);
        Assert.Equal(2, pipeline.ExecuteOutcome((_, _) => 2, 0).Result);
    }

    [Fact]
    public async Task A_concurrency_limiter_takes_no_permit_and_queues_nothing()
    {
        using var caller = new CancellationTokenSource();
        await caller.CancelAsync();
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(limiter).Build();
        var runs = 0;

        // A permit free, then none free (the call would queue): either way nothing is taken, queued or failed.
        var free = await pipeline.ExecuteOutcomeAsync((_, _) => new ValueTask<int>(++runs), 0, caller.Token);
        using (limiter.AttemptAcquire(1))
        {
            var queued = await pipeline.ExecuteOutcomeAsync((_, _) => new ValueTask<int>(++runs), 0, caller.Token);
            Assert.Equal(caller.Token, Assert.IsAssignableFrom<OperationCanceledException>(queued.Exception).CancellationToken);
        }

        Assert.Equal(caller.Token, Assert.IsAssignableFrom<OperationCanceledException>(free.Exception).CancellationToken);
        Assert.Equal(0, runs);
        var statistics = limiter.GetStatistics()!;
        Assert.Equal((1L, 0L, 1L, 0L), (statistics.CurrentAvailablePermits, statistics.CurrentQueuedCount, statistics.TotalSuccessfulLeases, statistics.TotalFailedLeases));
    }

    [Fact]
    public async Task A_half_open_breakers_probe_slot_stays_free_for_the_next_call()
    {
        var time = new FakeTimeProvider();
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { MinimumThroughput = 2, BreakDuration = TimeSpan.FromSeconds(5), TimeProvider = time });
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }.AddCircuitBreaker(breaker).Build();
        pipeline.ExecuteOutcome<int, int>(static (_, _) => throw new IOException(), 0);
        pipeline.ExecuteOutcome<int, int>(static (_, _) => throw new IOException(), 0);
        Assert.Equal(CircuitState.Open, breaker.State);
        time.Advance(TimeSpan.FromSeconds(5));
        using var caller = new CancellationTokenSource();
        await caller.CancelAsync();
        var runs = 0;

        // A cancelled call neither takes the probe nor, ignoring its token, succeeds as one and closes the breaker.
        var cancelled = await pipeline.ExecuteOutcomeAsync((_, _) => new ValueTask<int>(++runs), 0, caller.Token);
        Assert.IsAssignableFrom<OperationCanceledException>(cancelled.Exception);

        // The next call is the probe: its failure opens the breaker again.
        var probe = pipeline.ExecuteOutcome<int, int>((_, _) => { runs++; throw new IOException(); }, 0);
        Assert.IsType<IOException>(probe.Exception);
        Assert.Equal((1, CircuitState.Open), (runs, breaker.State));
    }

    [Fact]
    public async Task A_retry_budget_is_untouched()
    {
        var budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = 10, TokenRatio = 0.5 });
        budget.RecordFailure();
        var before = budget.Balance;
        var pipeline = new ResiliencePipelineBuilder()
            .AddRetry(new RetryOptions { Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero, Budget = budget })
            .Build();
        using var caller = new CancellationTokenSource();
        await caller.CancelAsync();
        var runs = 0;

        // Run, the result would be the dependency's success, which the budget credits.
        pipeline.ExecuteOutcome((_, _) => ++runs, 0, caller.Token);
        await pipeline.ExecuteOutcomeAsync((_, _) => new ValueTask<int>(++runs), 0, caller.Token);

        Assert.Equal((0, before), (runs, budget.Balance));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_instrumented_pipeline_counts_the_call_as_cancelled_while_listened_to(bool listened)
    {
        using var telemetry = new ResilienceTelemetry();
        var time = new FakeTimeProvider();
        var limiter = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 1, TimeProvider = time });
        using var disposeLimiter = limiter;
        var pipeline = new ResiliencePipelineBuilder { Name = "orders", TimeProvider = time }.AddTelemetry(telemetry).AddRateLimiter(limiter).Build();
        using var calls = listened ? new MetricCollector<long>(telemetry.Meter, "resilience.pipeline.calls") : null;
        using var durations = listened ? new MetricCollector<double>(telemetry.Meter, "resilience.pipeline.duration") : null;
        using var caller = new CancellationTokenSource();
        await caller.CancelAsync();
        var runs = 0;

        var outcome = await pipeline.ExecuteOutcomeAsync((_, _) => new ValueTask<int>(++runs), 0, caller.Token);

        Assert.Equal(caller.Token, Assert.IsAssignableFrom<OperationCanceledException>(outcome.Exception).CancellationToken);
        Assert.Equal((0, 1L), (runs, limiter.GetStatistics()!.CurrentAvailablePermits));
        if (calls is not null && durations is not null)
        {
            // Counted and timed as any call its caller cancelled: the telemetry strategy observes, it admits nothing.
            var counted = Assert.Single(calls.GetMeasurementSnapshot());
            Assert.Equal((1L, "orders", "cancelled"), (counted.Value, counted.Tags["pipeline"], counted.Tags["outcome"]));
            var timed = Assert.Single(durations.GetMeasurementSnapshot());
            Assert.Equal((0d, "cancelled"), (timed.Value, timed.Tags["outcome"]));
        }
    }

    [Fact]
    public async Task A_concurrency_limiter_cancelled_after_the_base_class_looked_answers_in_the_task()
    {
        // RateLimiter.AcquireAsync answers a token cancelled before the call itself; one cancelled just after reaches the
        // limiter's own AcquireAsyncCore, called here as the base class calls it.
        using var caller = new CancellationTokenSource();
        await caller.CancelAsync();
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var core = typeof(InFlightLimiter).GetMethod("AcquireAsyncCore", BindingFlags.NonPublic | BindingFlags.Instance)!;

        var acquisition = (ValueTask<RateLimitLease>)core.Invoke(limiter, [1, caller.Token])!;

        Assert.True(acquisition.IsCanceled);
        var cancelled = await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await acquisition);
        Assert.Equal(caller.Token, cancelled.CancellationToken);
        Assert.Equal(1, limiter.GetStatistics()!.CurrentAvailablePermits);
    }
}
