using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Retry;

public class HintRangeTests
{
    [Fact]
    public async Task A_hint_in_the_past_read_from_a_failed_result_means_retry_now_not_the_retrys_own_delay()
    {
        var time = new FakeTimeProvider();
        var pipeline = new ResiliencePipelineBuilder<int> { TimeProvider = time, RetryAfterHint = static _ => TimeSpan.FromSeconds(-5) }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.FromHours(1), MaxDelay = TimeSpan.FromHours(1), UseJitter = false }, static o => o.Result == 503)
            .Build();
        var attempts = 0;

        // Without advancing the clock: an hour's delay would never end.
        var result = await pipeline.ExecuteAsync(_ => new ValueTask<int>(++attempts == 1 ? 503 : 200)).AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(200, result);
        Assert.Equal(2, attempts);
    }

    [Fact]
    public void A_hint_too_long_to_hold_still_ends_the_retries()
    {
        var pipeline = new ResiliencePipelineBuilder<int> { RetryAfterHint = static _ => TimeSpan.MaxValue }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 3, Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero }, static o => o.Result == 503)
            .Build();
        var attempts = 0;

        var result = pipeline.Execute(_ => ++attempts == 1 ? 503 : 200);

        Assert.Equal(503, result);
        Assert.Equal(1, attempts);
    }
}
