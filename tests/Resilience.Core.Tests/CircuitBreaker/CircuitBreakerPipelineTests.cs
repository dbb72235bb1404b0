using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.CircuitBreaker;

public class CircuitBreakerPipelineTests
{
    private readonly FakeTimeProvider _time = new();

    private Resilience.CircuitBreaker Breaker(int minimumThroughput = 2) => new(new CircuitBreakerOptions
    {
        Name = "inventory",
        MinimumThroughput = minimumThroughput,
        FailureRatio = 0.5,
        BreakDuration = TimeSpan.FromSeconds(30),
        TimeProvider = _time,
    });

    [Fact]
    public async Task Failures_open_the_breaker_and_then_calls_are_rejected_without_running()
    {
        var pipeline = new ResiliencePipelineBuilder { Name = "orders" }.AddCircuitBreaker(Breaker()).Build();
        var runs = 0;

        for (var i = 0; i < 2; i++)
        {
            await Assert.ThrowsAsync<IOException>(() => pipeline.ExecuteAsync<int>(_ => { runs++; throw new IOException(); }).AsTask());
        }

        var thrown = await Assert.ThrowsAsync<BrokenCircuitException>(() => pipeline.ExecuteAsync(_ => { runs++; return new ValueTask<int>(1); }).AsTask());
        var outcome = pipeline.ExecuteOutcome((_, _) => ++runs, 0);

        Assert.Equal(2, runs);
        Assert.Equal(("orders", "inventory", TimeSpan.FromSeconds(30)), (thrown.PipelineName, thrown.StrategyName, thrown.RetryAfter));
        Assert.True(outcome.IsRejected);
        Assert.Equal(RejectionReason.BrokenCircuit, outcome.Rejection.Reason);
        Assert.IsType<BrokenCircuitException>(outcome.Exception);
    }

    [Fact]
    public void Isolated_breaker_rejects_with_isolated_exception()
    {
        var breaker = Breaker();
        var pipeline = new ResiliencePipelineBuilder().AddCircuitBreaker(breaker).Build();
        breaker.Isolate();

        Assert.Throws<IsolatedCircuitException>(() => pipeline.Execute(static _ => 1));
    }

    [Fact]
    public void Typed_predicate_counts_results_as_failures()
    {
        var breaker = Breaker();
        var pipeline = new ResiliencePipelineBuilder<int>().AddCircuitBreaker(breaker, static o => o.Exception is not null || o.Result >= 500).Build();

        pipeline.Execute(static _ => 503);
        pipeline.Execute(static _ => 503);

        Assert.Equal(CircuitState.Open, breaker.State);
        Assert.True(pipeline.ExecuteOutcome(static (_, _) => 200, 0).IsRejected);
    }

    [Fact]
    public void Exception_predicate_ignores_unhandled_exceptions()
    {
        var breaker = Breaker();
        var pipeline = new ResiliencePipelineBuilder().AddCircuitBreaker(breaker, static e => e is TimeoutException).Build();

        for (var i = 0; i < 5; i++)
        {
            pipeline.ExecuteOutcome<int, int>(static (_, _) => throw new FormatException(), 0);
        }

        Assert.Equal(CircuitState.Closed, breaker.State);
        Assert.Equal(0, breaker.GetSnapshot().Calls);
    }

    [Fact]
    public async Task Caller_cancellation_is_neither_success_nor_failure()
    {
        var breaker = Breaker();
        var pipeline = new ResiliencePipelineBuilder().AddCircuitBreaker(breaker).Build();
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        for (var i = 0; i < 5; i++)
        {
            await pipeline.ExecuteOutcomeAsync(static (_, ct) => ValueTask.FromCanceled<int>(ct), 0, cts.Token);
        }

        Assert.Equal(0, breaker.GetSnapshot().Calls);
        Assert.Equal(CircuitState.Closed, breaker.State);
    }

    [Fact]
    public async Task One_breaker_shared_by_two_pipelines_opens_for_both()
    {
        var breaker = Breaker();
        var reads = new ResiliencePipelineBuilder { Name = "reads" }.AddCircuitBreaker(breaker).Build();
        var writes = new ResiliencePipelineBuilder<string> { Name = "writes" }.AddCircuitBreaker(breaker).Build();

        await reads.ExecuteOutcomeAsync(static (_, _) => ValueTask.FromException<int>(new IOException()), 0);
        await writes.ExecuteOutcomeAsync(static (_, _) => ValueTask.FromException<string>(new IOException()), 0);

        Assert.Equal(CircuitState.Open, breaker.State);
        Assert.Equal("reads", reads.ExecuteOutcome(static (_, _) => 1, 0).Rejection.PipelineName);
        Assert.Equal("writes", writes.ExecuteOutcome(static (_, _) => "x", 0).Rejection.PipelineName);
    }

    [Fact]
    public async Task Probe_through_a_pipeline_closes_the_breaker_and_a_failed_async_probe_reopens_it()
    {
        var breaker = Breaker(minimumThroughput: 1);
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
    public void Slow_calls_through_a_pipeline_are_measured_on_the_breaker_clock()
    {
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions
        {
            MinimumThroughput = 2,
            SlowCallDuration = TimeSpan.FromSeconds(1),
            SlowCallRatio = 1,
            TimeProvider = _time,
        });
        var pipeline = new ResiliencePipelineBuilder().AddCircuitBreaker(breaker).Build();

        pipeline.Execute(_ => _time.Advance(TimeSpan.FromSeconds(2)));
        pipeline.Execute(_ => _time.Advance(TimeSpan.FromSeconds(1)));

        Assert.Equal(CircuitState.Open, breaker.State);
    }
}
