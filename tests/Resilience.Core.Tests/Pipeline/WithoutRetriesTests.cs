using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Pipeline;

/// <summary>
/// A call that must not be repeated (an HTTP POST): <see cref="ResiliencePipeline{T}.ExecuteWithoutRetriesOutcomeAsync{TState}"/>
/// and its synchronous and untyped forms run it through every strategy of the pipeline but its retries.
/// </summary>
public class WithoutRetriesTests
{
    private static readonly RetryOptions ImmediateRetries = SingleAttemptTests.ImmediateRetries;

    private static Resilience.CircuitBreaker Breaker() => SingleAttemptTests.Breaker();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_retry_stands_aside_while_the_breaker_records_the_one_failure_and_the_fallback_serves(bool synchronous)
    {
        var breaker = Breaker();
        var budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = 10, TokenRatio = 0.1 });
        var pipeline = new ResiliencePipelineBuilder<string>()
            .AddFallback("fallback")
            .AddRetry(new RetryOptions { MaxRetryAttempts = 3, Delay = TimeSpan.Zero, UseJitter = false, Budget = budget }, static _ => true)
            .AddCircuitBreaker(breaker, static _ => true)
            .Build();
        var invocations = 0;
        var failure = new InvalidOperationException("the order was not taken");

        var outcome = synchronous
            ? pipeline.ExecuteWithoutRetriesOutcome<int>((_, _) => { invocations++; throw failure; }, 0)
            : await pipeline.ExecuteWithoutRetriesOutcomeAsync<int>((_, _) => { invocations++; return ValueTask.FromException<string>(failure); }, 0);

        Assert.Equal(("fallback", 1), (outcome.Result, invocations));
        Assert.Equal((1L, 1L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
        Assert.Equal(10, budget.Balance);

        // The same pipeline, run as usual, retries three times before it falls back: the view left it as it was.
        invocations = 0;
        var usual = await pipeline.ExecuteOutcomeAsync<int>((_, _) => { invocations++; return ValueTask.FromException<string>(failure); }, 0);
        Assert.Equal(("fallback", 4), (usual.Result, invocations));
        Assert.Equal((5L, 5L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
    }

    [Fact]
    public async Task The_timeout_still_bounds_the_call()
    {
        var time = new FakeTimeProvider();
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(ImmediateRetries, static _ => true)
            .AddTimeout(new TimeoutOptions { Timeout = TimeSpan.FromSeconds(1), TimeProvider = time })
            .Build();
        var invocations = 0;

        var call = pipeline.ExecuteWithoutRetriesOutcomeAsync<int, int>(
            async (_, token) =>
            {
                invocations++;
                await Task.Delay(System.Threading.Timeout.Infinite, token);
                return 1;
            },
            0).AsTask();
        time.Advance(TimeSpan.FromSeconds(2));

        var outcome = await call.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(TimeSpan.FromSeconds(1), Assert.IsType<TimeoutRejectedException>(outcome.Exception).Timeout);
        Assert.Equal(1, invocations);
    }

    [Fact]
    public async Task A_retry_that_a_strategy_of_ones_own_asks_for_is_not_taken_and_its_fallback_is()
    {
        var asking = new RecordingStrategy("asking")
        {
            // Asks once for a retry, then for a fallback: the retry is refused and the outcome passes on.
            OnExit = (outcome, exits) => outcome.IsHandled && exits == 1 ? ExitAction.Retry(TimeSpan.Zero) : ExitAction.Continue,
        };
        var replacing = new RecordingStrategy("replacing")
        {
            OnExit = (outcome, _) => outcome.IsHandled ? ExitAction.Fallback : ExitAction.Continue,
            Fallback = _ => new Outcome<string>("replaced"),
        };
        var pipeline = new ResiliencePipelineBuilder().AddStrategy(replacing, static _ => true).AddStrategy(asking, static _ => true).Build();
        var failure = new InvalidOperationException("the order was not taken");
        var invocations = 0;

        var outcome = await pipeline.ExecuteWithoutRetriesOutcomeAsync<string, int>((_, _) => { invocations++; return ValueTask.FromException<string>(failure); }, 0);

        Assert.Equal(("replaced", 1), (outcome.Result, invocations));
        Assert.Equal(1, asking.Exits);
    }

    [Fact]
    public async Task A_pipeline_rebuilt_in_place_runs_its_new_strategies_without_retries()
    {
        var first = Breaker();
        var second = Breaker();
        var pipeline = new ResiliencePipelineBuilder<string>().AddRetry(ImmediateRetries, static _ => true).AddCircuitBreaker(first, static _ => true).Build();
        var failing = static (int _, CancellationToken _) => ValueTask.FromException<string>(new InvalidOperationException("down"));
        await pipeline.ExecuteWithoutRetriesOutcomeAsync(failing, 0);

        // As a reload that changes a configured pipeline's strategies does: callers keep the pipeline they hold.
        pipeline.Replace(new ResiliencePipelineBuilder<string>().AddRetry(ImmediateRetries, static _ => true).AddCircuitBreaker(second, static _ => true).Build().Core);
        await pipeline.ExecuteWithoutRetriesOutcomeAsync(failing, 0);

        Assert.Equal((1L, 1L), (first.GetSnapshot().Calls, second.GetSnapshot().Calls));
    }
}
