using Microsoft.Extensions.Time.Testing;
using Breaker = Resilience.CircuitBreaker;

namespace Resilience.Tests.CircuitBreaker;

public class CircuitBreakerPipelineTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void Sync_failures_open_the_breaker_and_later_calls_are_rejected_without_running()
    {
        var breaker = Create();
        var pipeline = new ResiliencePipelineBuilder { Name = "orders" }.AddCircuitBreaker(breaker).Build();
        var runs = 0;

        for (var i = 0; i < 2; i++)
        {
            Assert.Throws<IOException>(() => pipeline.Execute<int>(_ => { runs++; throw new IOException(); }));
        }

        _time.Advance(TimeSpan.FromSeconds(10));
        var thrown = Assert.Throws<BrokenCircuitException>(() => pipeline.Execute(_ => ++runs));

        Assert.Equal(2, runs);
        Assert.Equal(("orders", "inventory", TimeSpan.FromSeconds(20), RejectionReason.BrokenCircuit), (thrown.PipelineName, thrown.StrategyName, thrown.RetryAfter, thrown.Reason));
        Assert.Equal("Circuit 'inventory' is open: the call was not made.", thrown.Message);
    }

    [Fact]
    public async Task Async_failures_open_the_breaker_and_the_non_throwing_form_returns_a_rejected_outcome()
    {
        var breaker = Create();
        var pipeline = new ResiliencePipelineBuilder { Name = "orders" }.AddCircuitBreaker(breaker).Build();

        for (var i = 0; i < 2; i++)
        {
            await Assert.ThrowsAsync<IOException>(() => pipeline.ExecuteAsync<int>(static async _ => { await Task.Yield(); throw new IOException(); }).AsTask());
        }

        var runs = 0;
        var outcome = await pipeline.ExecuteOutcomeAsync((_, _) => new ValueTask<int>(++runs), 0);

        Assert.Equal(0, runs);
        Assert.True(outcome.IsRejected);
        Assert.Equal((RejectionReason.BrokenCircuit, TimeSpan.FromSeconds(30), "orders"), (outcome.Rejection.Reason, outcome.Rejection.RetryAfter, outcome.Rejection.PipelineName));
        Assert.IsType<BrokenCircuitException>(outcome.Exception);
    }

    [Fact]
    public void An_isolated_breaker_rejects_with_an_isolated_circuit_exception()
    {
        var breaker = Create();
        var pipeline = new ResiliencePipelineBuilder().AddCircuitBreaker(breaker).Build();
        breaker.Isolate();

        var thrown = Assert.Throws<IsolatedCircuitException>(() => pipeline.Execute(static _ => 1));
        var outcome = pipeline.ExecuteOutcome(static (_, _) => 1, 0);

        Assert.Equal((RejectionReason.IsolatedCircuit, (TimeSpan?)null), (thrown.Reason, thrown.RetryAfter));
        Assert.Equal(RejectionReason.IsolatedCircuit, outcome.Rejection.Reason);
    }

    [Fact]
    public void A_typed_predicate_counts_results_as_failures()
    {
        var breaker = Create(minimumThroughput: 3);
        var pipeline = new ResiliencePipelineBuilder<int>().AddCircuitBreaker(breaker, static o => o.Exception is not null || o.Result == 503).Build();

        pipeline.Execute(static _ => 200);
        pipeline.Execute(static _ => 503);
        Assert.Equal((CircuitState.Closed, 2L, 1L), (breaker.State, breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
        pipeline.Execute(static _ => 503);

        Assert.Equal(CircuitState.Open, breaker.State);
        Assert.True(pipeline.ExecuteOutcome(static (_, _) => 200, 0).IsRejected);
    }

    [Fact]
    public void Options_overloads_build_a_breaker_on_the_builders_clock_with_their_predicates()
    {
        var options = new CircuitBreakerOptions { MinimumThroughput = 1, FailureRatio = 1, BreakDuration = TimeSpan.FromSeconds(3) };
        var typed = new ResiliencePipelineBuilder<int> { TimeProvider = _time }.AddCircuitBreaker(options, static o => o.Result < 0).Build();
        var untyped = new ResiliencePipelineBuilder { TimeProvider = _time }.AddCircuitBreaker(options, static e => e is TimeoutException).Build();
        var plain = new ResiliencePipelineBuilder<int> { TimeProvider = _time }.AddCircuitBreaker(options).Build();

        typed.Execute(static _ => -1);
        untyped.ExecuteOutcome<int, int>(static (_, _) => throw new TimeoutException(), 0);
        plain.ExecuteOutcome<int>(static (_, _) => throw new IOException(), 0);
        _time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(TimeSpan.FromSeconds(2), typed.ExecuteOutcome(static (_, _) => 1, 0).Rejection.RetryAfter);
        Assert.Equal(TimeSpan.FromSeconds(2), untyped.ExecuteOutcome(static (_, _) => 1, 0).Rejection.RetryAfter);
        Assert.Equal(TimeSpan.FromSeconds(2), plain.ExecuteOutcome(static (_, _) => 1, 0).Rejection.RetryAfter);
        Assert.Null(options.TimeProvider);
    }

    [Fact]
    public void Exceptions_the_predicate_does_not_handle_are_neither_success_nor_failure()
    {
        var breaker = Create();
        var pipeline = new ResiliencePipelineBuilder().AddCircuitBreaker(breaker, static e => e is TimeoutException).Build();

        for (var i = 0; i < 5; i++)
        {
            pipeline.ExecuteOutcome<int, int>(static (_, _) => throw new FormatException(), 0);
        }

        pipeline.ExecuteOutcome<int, int>(static (_, _) => throw new TimeoutException(), 0);
        Assert.Equal((CircuitState.Closed, 1L, 1L), (breaker.State, breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
    }

    [Fact]
    public async Task Caller_cancellation_is_neither_success_nor_failure_and_frees_a_probe_slot()
    {
        var breaker = Create(minimumThroughput: 1);
        var pipeline = new ResiliencePipelineBuilder().AddCircuitBreaker(breaker).Build();
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        for (var i = 0; i < 5; i++)
        {
            await pipeline.ExecuteOutcomeAsync(static (_, ct) => ValueTask.FromCanceled<int>(ct), 0, cts.Token);
        }

        Assert.Equal((CircuitState.Closed, 0L), (breaker.State, breaker.GetSnapshot().Calls));
        pipeline.ExecuteOutcome<int, int>(static (_, _) => throw new IOException(), 0);
        _time.Advance(TimeSpan.FromSeconds(30));
        await pipeline.ExecuteOutcomeAsync(static (_, ct) => ValueTask.FromCanceled<int>(ct), 0, cts.Token);
        Assert.Equal(1, pipeline.ExecuteOutcome(static (_, _) => 1, 0).Result);
        Assert.Equal(CircuitState.Closed, breaker.State);
    }

    [Fact]
    public async Task A_failure_that_ends_a_call_its_caller_cancelled_is_not_counted()
    {
        // A driver that reports its caller's cancellation as its own error (a command "cancelled by user", a connection
        // aborted midway): the dependency did not fail, as a retry and a fallback judge it too.
        var breaker = Create(minimumThroughput: 2);
        var typed = Create(minimumThroughput: 2);
        var pipeline = new ResiliencePipelineBuilder().AddCircuitBreaker(breaker).Build();
        var typedPipeline = new ResiliencePipelineBuilder<int>().AddCircuitBreaker(typed, static o => o.Exception is not null || o.Result < 0).Build();

        for (var i = 0; i < 5; i++)
        {
            // A caller per call: one that cancelled before its call started would run nothing.
            using var first = new CancellationTokenSource();
            using var second = new CancellationTokenSource();
            using var third = new CancellationTokenSource();
            Assert.IsType<IOException>(pipeline.ExecuteOutcome<int, int>((_, _) => { first.Cancel(); throw new IOException("aborted"); }, 0, first.Token).Exception);
            Assert.IsType<IOException>((await pipeline.ExecuteOutcomeAsync<int, int>(async (_, _) => { await second.CancelAsync(); throw new IOException("aborted"); }, 0, second.Token)).Exception);
            Assert.Equal(-1, typedPipeline.ExecuteOutcome((_, _) => { third.Cancel(); return -1; }, 0, third.Token).Result);
        }

        Assert.Equal((CircuitState.Closed, 0L, 0L), (breaker.State, breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
        Assert.Equal((CircuitState.Closed, 0L, 0L), (typed.State, typed.GetSnapshot().Calls, typed.GetSnapshot().Failures));

        // The same failures without a cancellation are counted and open the breaker.
        pipeline.ExecuteOutcome<int, int>(static (_, _) => throw new IOException(), 0);
        pipeline.ExecuteOutcome<int, int>(static (_, _) => throw new IOException(), 0);
        Assert.Equal(CircuitState.Open, breaker.State);
    }

    [Fact]
    public void Rejections_by_inner_strategies_are_ignored()
    {
        var breaker = Create(minimumThroughput: 1);
        var inner = Create(minimumThroughput: 1);
        inner.Isolate();
        var pipeline = new ResiliencePipelineBuilder().AddCircuitBreaker(breaker).AddCircuitBreaker(inner).Build();

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(RejectionReason.IsolatedCircuit, pipeline.ExecuteOutcome(static (_, _) => 1, 0).Rejection.Reason);
        }

        Assert.Equal((CircuitState.Closed, 0L), (breaker.State, breaker.GetSnapshot().Calls));
    }

    [Fact]
    public async Task One_breaker_shared_by_two_pipelines_opens_for_both()
    {
        var breaker = Create();
        var reads = new ResiliencePipelineBuilder { Name = "reads" }.AddCircuitBreaker(breaker).Build();
        var writes = new ResiliencePipelineBuilder<string> { Name = "writes" }.AddCircuitBreaker(breaker).Build();

        await reads.ExecuteOutcomeAsync(static (_, _) => ValueTask.FromException<int>(new IOException()), 0);
        await writes.ExecuteOutcomeAsync(static (_, _) => ValueTask.FromException<string>(new IOException()), 0);

        Assert.Equal(CircuitState.Open, breaker.State);
        Assert.Equal("reads", reads.ExecuteOutcome(static (_, _) => 1, 0).Rejection.PipelineName);
        Assert.Equal("writes", writes.ExecuteOutcome(static (_, _) => "x", 0).Rejection.PipelineName);
    }

    [Fact]
    public async Task A_probe_through_a_pipeline_closes_the_breaker_and_a_failed_async_probe_reopens_it()
    {
        var breaker = Create(minimumThroughput: 1);
        var pipeline = new ResiliencePipelineBuilder().AddCircuitBreaker(breaker).Build();
        pipeline.ExecuteOutcome<int, int>(static (_, _) => throw new IOException(), 0);
        _time.Advance(TimeSpan.FromSeconds(30));

        await pipeline.ExecuteOutcomeAsync<int, int>(static async (_, _) => { await Task.Yield(); throw new IOException(); }, 0);
        Assert.Equal(CircuitState.Open, breaker.State);
        _time.Advance(TimeSpan.FromSeconds(30));
        var value = await pipeline.ExecuteAsync(static async _ => { await Task.Yield(); return 42; });

        Assert.Equal(42, value);
        Assert.Equal(CircuitState.Closed, breaker.State);
    }

    [Fact]
    public void A_throwing_opened_handler_becomes_the_calls_outcome_and_the_outer_strategies_still_exit()
    {
        var breaker = Create(minimumThroughput: 1);
        breaker.Opened += (_, _) => throw new InvalidOperationException("opened");
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = _time }
            .AddConcurrencyLimiter(new InFlightLimiterOptions { PermitLimit = 1 })
            .AddCircuitBreaker(breaker)
            .Build();

        var outcome = pipeline.ExecuteOutcome<int, int>(static (_, _) => throw new IOException(), 0);

        Assert.Equal("opened", Assert.IsType<InvalidOperationException>(outcome.Exception).Message);
        Assert.Equal(CircuitState.Open, breaker.State);

        // The limiter outside the breaker got its permit back: the next call reaches the breaker.
        Assert.Equal(RejectionReason.BrokenCircuit, pipeline.ExecuteOutcome(static (_, _) => 1, 0).Rejection.Reason);
    }

    [Fact]
    public void A_result_replaced_by_a_throwing_handlers_exception_is_disposed()
    {
        var breaker = Create(minimumThroughput: 1);
        breaker.Closed += (_, _) => throw new InvalidOperationException("closed");
        var pipeline = new ResiliencePipelineBuilder<Response> { TimeProvider = _time }.AddCircuitBreaker(breaker, static _ => false).Build();
        Assert.True(breaker.TryAcquire(out var permit));
        breaker.Record(permit, CircuitCallResult.Failure);
        _time.Advance(TimeSpan.FromSeconds(30));
        var response = new Response();

        // The probe's success closes the breaker; the handler's exception takes the place of its result, which no
        // caller will see: it is disposed (an HTTP response would hold its connection).
        var outcome = pipeline.ExecuteOutcome((_, _) => response, 0);

        Assert.Equal("closed", Assert.IsType<InvalidOperationException>(outcome.Exception).Message);
        Assert.Equal(CircuitState.Closed, breaker.State);
        Assert.True(response.Disposed);
    }

    [Fact]
    public async Task A_throwing_half_opened_handler_becomes_the_calls_outcome_and_gives_back_the_slot_and_the_outer_permit()
    {
        var breaker = Create(minimumThroughput: 1);
        var failing = true;
        breaker.HalfOpened += (_, _) =>
        {
            if (failing)
            {
                throw new InvalidOperationException("half-opened");
            }
        };
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = _time }
            .AddConcurrencyLimiter(new InFlightLimiterOptions { PermitLimit = 1 })
            .AddCircuitBreaker(breaker)
            .Build();
        pipeline.ExecuteOutcome<int, int>(static (_, _) => throw new IOException(), 0);
        _time.Advance(TimeSpan.FromSeconds(30));
        var runs = 0;

        var thrown = await Assert.ThrowsAsync<InvalidOperationException>(() => pipeline.ExecuteAsync(_ => new ValueTask<int>(++runs)).AsTask());
        failing = false;

        Assert.Equal(("half-opened", 0, CircuitState.HalfOpen), (thrown.Message, runs, breaker.State));
        Assert.Equal(1, pipeline.Execute(_ => ++runs));
        Assert.Equal(CircuitState.Closed, breaker.State);
    }

    [Fact]
    public void Slow_calls_through_a_pipeline_are_timed_on_the_pipelines_clock()
    {
        var pipelineTime = new FakeTimeProvider();
        var breaker = new Breaker(new CircuitBreakerOptions
        {
            MinimumThroughput = 2,
            SlowCallDuration = TimeSpan.FromSeconds(1),
            SlowCallRatio = 0.5,
            TimeProvider = _time,
        });
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = pipelineTime }.AddCircuitBreaker(breaker).Build();

        pipeline.Execute(_ => _time.Advance(TimeSpan.FromSeconds(5)));
        pipeline.Execute(_ => pipelineTime.Advance(TimeSpan.FromMilliseconds(999)));
        Assert.Equal((2L, 0L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().SlowCalls));
        pipeline.Execute(_ => pipelineTime.Advance(TimeSpan.FromSeconds(1)));
        pipeline.Execute(_ => pipelineTime.Advance(TimeSpan.FromSeconds(2)));

        Assert.Equal(CircuitState.Open, breaker.State);
    }

    [Fact]
    public void A_call_timed_by_the_pipeline_never_escapes_a_slow_call_duration_that_is_not_a_whole_number_of_milliseconds()
    {
        // 100.5 ms; the pipeline's clock is 0.1 ms past a millisecond, so a call of 100.7 ms measures 100 whole milliseconds.
        var pipelineTime = new FakeTimeProvider();
        pipelineTime.Advance(TimeSpan.FromTicks(1_000));
        var breaker = new Breaker(new CircuitBreakerOptions
        {
            MinimumThroughput = 100,
            SlowCallDuration = TimeSpan.FromTicks(1_005_000),
            TimeProvider = _time,
        });
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = pipelineTime }.AddCircuitBreaker(breaker).Build();

        pipeline.Execute(_ => pipelineTime.Advance(TimeSpan.FromTicks(1_007_000)));
        Assert.Equal((1L, 1L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().SlowCalls));

        // 99.9 ms from a whole millisecond measures 99 whole milliseconds, below the duration rounded down: not slow.
        pipelineTime.Advance(TimeSpan.FromTicks(2_000));
        pipeline.Execute(_ => pipelineTime.Advance(TimeSpan.FromTicks(999_000)));
        Assert.Equal((2L, 1L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().SlowCalls));
    }

    [Fact]
    public void A_call_timed_by_the_pipeline_is_measured_exactly_on_a_clock_set_to_a_date()
    {
        // A fake clock set to a date counts 100 ns ticks since year 1, past 2^53: converted to milliseconds in floating
        // point, this start (0.992 ms past a millisecond) rounds up to the next one while the end of a call of exactly
        // the slow-call duration does not, and the call measured a millisecond short escaped.
        var pipelineTime = new FakeTimeProvider(new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero));
        pipelineTime.Advance(TimeSpan.FromTicks(9_920));
        var breaker = new Breaker(new CircuitBreakerOptions
        {
            MinimumThroughput = 100,
            SlowCallDuration = TimeSpan.FromMilliseconds(100),
            TimeProvider = _time,
        });
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = pipelineTime }.AddCircuitBreaker(breaker).Build();

        pipeline.Execute(_ => pipelineTime.Advance(TimeSpan.FromMilliseconds(100)));

        Assert.Equal((1L, 1L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().SlowCalls));
    }

    private sealed class Response : IDisposable
    {
        public bool Disposed { get; private set; }

        public void Dispose() => Disposed = true;
    }

    private Breaker Create(int minimumThroughput = 2) => new(new CircuitBreakerOptions
    {
        Name = "inventory",
        MinimumThroughput = minimumThroughput,
        FailureRatio = 0.5,
        BreakDuration = TimeSpan.FromSeconds(30),
        TimeProvider = _time,
    });
}
