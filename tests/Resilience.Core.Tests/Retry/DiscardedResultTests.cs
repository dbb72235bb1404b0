using Resilience.Tests.Time;

namespace Resilience.Tests.Retry;

public class DiscardedResultTests
{
    [Fact]
    public async Task A_result_a_retry_discards_is_disposed_before_the_delay_and_the_result_returned_is_not()
    {
        var time = new TimerCountingTimeProvider();
        var pipeline = new ResiliencePipelineBuilder<Reply> { TimeProvider = time }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 2, Backoff = RetryBackoff.Constant, Delay = TimeSpan.FromSeconds(5), UseJitter = false }, static o => o.Result is { Status: 503 })
            .Build();
        var replies = new List<Reply>();

        var call = pipeline.ExecuteAsync(_ =>
        {
            var reply = new Reply(replies.Count < 2 ? 503 : 200);
            replies.Add(reply);
            return new ValueTask<Reply>(reply);
        }).AsTask();

        // The first reply is released while the retry waits, not when the next attempt runs.
        Assert.Single(replies);
        Assert.True(replies[0].Disposed);
        time.Advance(TimeSpan.FromSeconds(5));

        // The second attempt runs on a thread-pool thread: its reply is disposed before its delay's timer is created, and
        // the clock moves on only after that (a timer created after the move would start from the later time).
        time.WaitForTimers(2);
        Assert.Equal(2, replies.Count);
        Assert.True(replies[1].Disposed);
        time.Advance(TimeSpan.FromSeconds(5));

        var served = await call.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Same(replies[2], served);
        Assert.False(served.Disposed);
    }

    [Fact]
    public void The_last_failed_result_is_returned_undisposed_when_the_retries_are_spent_and_a_throwing_dispose_does_not_fail_the_call()
    {
        var pipeline = new ResiliencePipelineBuilder<Reply>()
            .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero }, static o => o.Result is { Status: 503 })
            .Build();
        var replies = new List<Reply>();

        var served = pipeline.Execute(_ =>
        {
            var reply = new Reply(503, throwOnDispose: replies.Count == 0);
            replies.Add(reply);
            return reply;
        });

        Assert.Equal(2, replies.Count);
        Assert.True(replies[0].Disposed);
        Assert.Same(replies[1], served);
        Assert.False(served.Disposed);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_result_a_fallback_replaces_is_disposed_once_and_one_it_serves_again_is_not(bool pendingFallback)
    {
        static ValueTask<Reply> Degraded(FallbackArguments<Reply> arguments, bool pending) =>
            pending ? DegradedLater() : new ValueTask<Reply>(new Reply(200));

        static async ValueTask<Reply> DegradedLater()
        {
            await Task.Yield();
            return new Reply(200);
        }

        var replacing = new ResiliencePipelineBuilder<Reply>()
            .AddFallback(new FallbackOptions<Reply> { Levels = { new FallbackLevel<Reply>("degraded", a => Degraded(a, pendingFallback)) } }, static o => o.Result is { Status: 503 })
            .Build();
        var servingItAgain = new ResiliencePipelineBuilder<Reply>()
            .AddFallback(new FallbackOptions<Reply> { Levels = { FallbackLevel<Reply>.FromFactory("same", a => a.Failure.Result!) } }, static o => o.Result is { Status: 503 })
            .Build();
        var failed = new Reply(503);
        var kept = new Reply(503);

        var served = await replacing.ExecuteAsync(_ => new ValueTask<Reply>(failed));
        var servedAgain = await servingItAgain.ExecuteAsync(_ => new ValueTask<Reply>(kept));

        Assert.Equal((200, 0, 1), (served.Status, served.Disposals, failed.Disposals));
        Assert.Same(kept, servedAgain);
        Assert.Equal(0, kept.Disposals);
    }

    [Fact]
    public async Task A_result_a_level_served_is_disposed_when_the_served_handler_throws_and_the_failed_one_once()
    {
        var degraded = new Reply(200);
        var failed = new Reply(503);
        var kept = new Reply(503);
        FallbackOptions<Reply> Options(FallbackLevel<Reply> level) => new()
        {
            Levels = { level },
            OnServed = static _ => throw new InvalidOperationException("handler bug"),
        };
        var replacing = new ResiliencePipelineBuilder<Reply>()
            .AddFallback(Options(FallbackLevel<Reply>.FromFactory("degraded", _ => degraded)), static o => o.Result is { Status: 503 })
            .Build();
        var servingItAgain = new ResiliencePipelineBuilder<Reply>()
            .AddFallback(Options(FallbackLevel<Reply>.FromFactory("same", a => a.Failure.Result!)), static o => o.Result is { Status: 503 })
            .Build();

        await Assert.ThrowsAsync<InvalidOperationException>(() => replacing.ExecuteAsync(_ => new ValueTask<Reply>(failed)).AsTask());
        await Assert.ThrowsAsync<InvalidOperationException>(() => servingItAgain.ExecuteAsync(_ => new ValueTask<Reply>(kept)).AsTask());

        // The handler's exception is the outcome: neither the value served nor the failed result reaches the caller.
        Assert.Equal((1, 1, 1), (degraded.Disposals, failed.Disposals, kept.Disposals));
    }

    [Fact]
    public void A_result_an_exit_replaces_by_a_failure_is_disposed()
    {
        var pipeline = new ResiliencePipelineBuilder<Reply>()
            .AddStrategy(new FailingHandledResults(), static o => o.Result is { Status: 503 })
            .Build();
        var reply = new Reply(503);

        var outcome = pipeline.ExecuteOutcome(static (reply, _) => reply, reply);

        Assert.Equal("refused", outcome.Exception!.Message);
        Assert.Equal(1, reply.Disposals);
    }

    private sealed class Reply(int status, bool throwOnDispose = false) : IDisposable
    {
        public int Status { get; } = status;

        public bool Disposed => Disposals > 0;

        public int Disposals { get; private set; }

        public void Dispose()
        {
            Disposals++;
            if (throwOnDispose)
            {
                throw new InvalidOperationException("dispose failed");
            }
        }
    }

    /// <summary>Turns a handled result into a failure, as a strategy of one's own may.</summary>
    private sealed class FailingHandledResults() : ResilienceStrategy("failing")
    {
        protected internal override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome) =>
            outcome.IsHandled ? ExitAction.Fail(new InvalidOperationException("refused")) : ExitAction.Continue;
    }
}
