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
}
