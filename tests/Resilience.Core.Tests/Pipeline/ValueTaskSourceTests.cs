namespace Resilience.Tests.Pipeline;

/// <summary>A callback's task backed by a reusable source is consumed exactly once, as the contract of such tasks asks.</summary>
public class ValueTaskSourceTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(8)]
    public async Task A_completed_callback_task_without_a_result_is_consumed_exactly_once(int length)
    {
        var builder = new ResiliencePipelineBuilder();
        for (var index = 0; index < length; index++)
        {
            builder.AddStrategy(new RecordingStrategy($"s{index}"));
        }

        var pipeline = builder.Build();
        var source = new CountingValueTaskSource();

        await pipeline.ExecuteAsync(_ => source.Completed());
        Assert.Equal(1, source.Consumed);

        await pipeline.ExecuteAsync(static (source, _) => source.Completed(), source);
        Assert.Equal(2, source.Consumed);
    }

    [Theory]
    [InlineData(1, 3)]
    [InlineData(2, 3)]
    [InlineData(1, 8)]
    [InlineData(2, 8)]
    public async Task A_callback_task_that_cannot_be_read_is_the_attempts_failure_and_every_strategy_exits_once(int staleAttempt, int length)
    {
        // The innermost strategy holds the only permit: skipping its exit would refuse every later attempt and call.
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1 });
        var builder = new ResiliencePipelineBuilder()
            .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.Zero }, static exception => exception is IOException or InvalidOperationException)
            .AddTimeout(TimeSpan.FromSeconds(30));
        for (var index = 3; index < length; index++)
        {
            builder.AddStrategy(new RecordingStrategy($"s{index}"));
        }

        var pipeline = builder.AddRateLimiter(limiter).Build();
        var attempts = 0;

        // A pooled task read after its source was reused: the callback's failure, as if it had thrown.
        var outcome = await pipeline.ExecuteOutcomeAsync(
            (_, _) => ++attempts == staleAttempt ? StaleValueTaskSource<int>.Task()
                : attempts == 1 ? ValueTask.FromException<int>(new IOException("attempt"))
                : ValueTask.FromResult(attempts),
            0);

        Assert.Equal(2, attempts);
        Assert.Equal(staleAttempt == 1 ? "Result: 2" : "Exception: InvalidOperationException: stale", outcome.ToString());
        Assert.Equal(1L, limiter.GetStatistics()!.CurrentAvailablePermits);
        Assert.Equal(1, await pipeline.ExecuteAsync(static _ => ValueTask.FromResult(1)));
    }

    [Fact]
    public async Task A_callback_task_that_cannot_be_read_is_returned_as_the_failure_of_an_empty_pipeline()
    {
        var outcome = await ResiliencePipeline.Empty.ExecuteOutcomeAsync(static (_, _) => StaleValueTaskSource<int>.Task(), 0);

        Assert.Equal("Exception: InvalidOperationException: stale", outcome.ToString());
    }

    [Fact]
    public async Task A_fallback_task_that_cannot_be_read_is_the_outcome_and_the_strategies_outside_exit_once()
    {
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1 });
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(limiter).AddStrategy(new StaleFallbackStrategy()).Build();

        var outcome = await pipeline.ExecuteOutcomeAsync(static (_, _) => ValueTask.FromException<int>(new IOException("attempt")), 0);

        Assert.Equal("Exception: InvalidOperationException: stale", outcome.ToString());
        Assert.Equal(1L, limiter.GetStatistics()!.CurrentAvailablePermits);
    }

    /// <summary>Replaces every failure with a task over a source that was already reused.</summary>
    private sealed class StaleFallbackStrategy() : ResilienceStrategy("stale fallback")
    {
        protected internal override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome) =>
            outcome.IsHandled ? ExitAction.Fallback : ExitAction.Continue;

        protected internal override ValueTask<Outcome<TResult>> ProvideFallbackAsync<TResult, TState>(
            Outcome<TResult> outcome, TState state, string? pipelineName, CancellationToken cancellationToken) =>
            StaleValueTaskSource<Outcome<TResult>>.Task();
    }
}
