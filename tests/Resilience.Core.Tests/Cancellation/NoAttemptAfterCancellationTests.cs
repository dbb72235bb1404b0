using Microsoft.Extensions.Time.Testing;
using Resilience.Tests.Pipeline;

namespace Resilience.Tests.Cancellation;

/// <summary>
/// Once the caller has cancelled, no further attempt starts: not a retry's next attempt (whoever asks for it), not the
/// attempt after an awaited admission, even when the wait itself ran on another token than the caller's (a strategy
/// passed its own inward) and so ended as if nothing happened.
/// </summary>
public class NoAttemptAfterCancellationTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_retry_delay_during_which_the_caller_cancels_starts_no_further_attempt(bool detachedToken)
    {
        var time = new FakeTimeProvider();
        var builder = new ResiliencePipelineBuilder { TimeProvider = time };
        if (detachedToken)
        {
            // The delay then waits on a token the caller's cancellation does not reach: it runs out as if nothing happened.
            builder.AddStrategy(new RecordingStrategy("detach") { ReplaceToken = static () => CancellationToken.None });
        }

        var pipeline = builder.AddRetry(new RetryOptions { MaxRetryAttempts = 3, Delay = TimeSpan.FromSeconds(1), UseJitter = false }).Build();
        using var caller = new CancellationTokenSource();
        var attempts = 0;

        var call = pipeline.ExecuteOutcomeAsync((_, _) => { attempts++; return ValueTask.FromException<int>(new IOException("transient")); }, 0, caller.Token).AsTask();
        Assert.False(call.IsCompleted);
        await caller.CancelAsync();

        // Each further attempt's delay (old behaviour) would be waited out too: the clock moves a second at a time.
        for (var second = 0; second < 20 && !call.IsCompleted; second++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
        }

        var outcome = await call.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1, attempts);
        Assert.Equal(caller.Token, Assert.IsAssignableFrom<OperationCanceledException>(outcome.Exception).CancellationToken);
    }

    [Fact]
    public async Task A_retry_a_strategy_of_ones_own_asks_for_after_the_caller_cancelled_starts_no_attempt()
    {
        var retrying = new RecordingStrategy("retrying") { OnExit = static (_, exits) => exits < 3 ? ExitAction.Retry(TimeSpan.Zero) : ExitAction.Continue };
        var pipeline = new ResiliencePipelineBuilder().AddStrategy(retrying).Build();
        using var caller = new CancellationTokenSource();
        var attempts = 0;

        var outcome = await pipeline.ExecuteOutcomeAsync(
            (caller, _) =>
            {
                attempts++;
                caller.Cancel();
                return ValueTask.FromException<int>(new IOException("aborted"));
            },
            caller,
            caller.Token);

        // The strategy exits again, told the caller cancelled, and its second retry is not taken either.
        Assert.Equal(1, attempts);
        Assert.Equal(caller.Token, Assert.IsAssignableFrom<OperationCanceledException>(outcome.Exception).CancellationToken);
        Assert.Equal(3, retrying.Exits);
        Assert.All(retrying.Outcomes.Skip(1), seen => Assert.True(seen.IsCallerCancelled));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_admission_that_ends_after_the_caller_cancelled_starts_no_attempt_and_returns_its_permit(bool synchronous)
    {
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1 });

        // The queue's wait runs on a token the caller's cancellation does not reach: served, it admits the call.
        var pipeline = new ResiliencePipelineBuilder()
            .AddStrategy(new RecordingStrategy("detach") { ReplaceToken = static () => CancellationToken.None })
            .AddRateLimiter(limiter)
            .Build();
        using var caller = new CancellationTokenSource();
        var attempts = 0;
        var held = limiter.AttemptAcquire(1);
        Assert.True(held.IsAcquired);

        var call = synchronous
            ? Task.Run(() => pipeline.ExecuteOutcome((_, _) => Interlocked.Increment(ref attempts), 0, caller.Token))
            : pipeline.ExecuteOutcomeAsync((_, _) => new ValueTask<int>(Interlocked.Increment(ref attempts)), 0, caller.Token).AsTask();
        for (var spins = 0; limiter.GetStatistics()!.CurrentQueuedCount == 0; spins++)
        {
            Assert.True(spins < 10_000, "the call never queued");
            await Task.Delay(1);
        }

        await caller.CancelAsync();
        held.Dispose();
        var outcome = await call;

        Assert.Equal(0, attempts);
        Assert.Equal(caller.Token, Assert.IsAssignableFrom<OperationCanceledException>(outcome.Exception).CancellationToken);
        Assert.Equal((1L, 0L), (limiter.GetStatistics()!.CurrentAvailablePermits, limiter.GetStatistics()!.CurrentQueuedCount));
    }
}
