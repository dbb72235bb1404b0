using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Retry;

public class RetryHintEdgeTests
{
    [Fact]
    public async Task A_negative_retry_after_on_a_resilience_exception_retries_at_once_instead_of_failing_the_call()
    {
        var time = new FakeTimeProvider();
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.FromHours(1), MaxDelay = TimeSpan.FromHours(1), UseJitter = false })
            .Build();
        var attempts = 0;

        // A quota's reset time computed as "reset - now" is negative once the reset has passed: retry now.
        var outcome = await pipeline.ExecuteOutcomeAsync(
            (_, _) => ++attempts == 1
                ? ValueTask.FromException<int>(new ResilienceException("quota", null, null, TimeSpan.FromSeconds(-3)))
                : new ValueTask<int>(attempts),
            0);

        Assert.Equal(2, outcome.Result);
        Assert.Equal(2, attempts);
    }

    /// <summary>
    /// For any hint on a failure, from far in the past to past the cap: a hint up to the cap is waited (a negative one
    /// as zero), a longer one ends the retries, and the call always ends with its own outcome.
    /// </summary>
    [Property(MaxTest = 200, Replay = "(161803398,271828183)")]
    public Property Any_hint_is_waited_clamped_at_zero_or_ends_the_retries(int seconds)
    {
        var hint = TimeSpan.FromSeconds(seconds % 200_000);
        var cap = TimeSpan.FromSeconds(30);
        var time = new ImmediateTimeProvider();
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.FromHours(1), MaxDelay = TimeSpan.FromHours(1), MaxRetryAfter = cap })
            .Build();
        var attempts = 0;

        var outcome = pipeline.ExecuteOutcome(
            (_, _) => ++attempts == 1 ? throw new ResilienceException("busy", null, null, hint) : attempts,
            0);

        var waited = hint <= cap;
        var expectedDelays = waited && hint > TimeSpan.Zero ? new[] { hint } : [];
        return (waited ? outcome.Result == 2 && attempts == 2 : outcome.Exception is ResilienceException && attempts == 1)
            .And(time.Delays.SequenceEqual(expectedDelays))
            .Label($"hint {hint}: attempts {attempts}, delays [{string.Join(", ", time.Delays)}], outcome {outcome}");
    }
}
