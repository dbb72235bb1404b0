namespace Resilience.Tests.Retry;

public class RetryDelayPrecisionTests
{
    [Theory]
    [InlineData(5_000)]
    [InlineData(15_000)]
    [InlineData(25_000)]
    public async Task A_delay_with_a_fraction_of_a_millisecond_is_waited_in_full(long delayTicks)
    {
        // The wait dropped the fraction of a millisecond: a 1.5 ms delay was a 1 ms wait, and one of 0.5 ms no wait.
        var time = new ImmediateTimeProvider();
        var delay = TimeSpan.FromTicks(delayTicks);
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Backoff = RetryBackoff.Constant, UseJitter = false, Delay = delay, MaxDelay = delay })
            .Build();
        var attempts = 0;

        var result = await pipeline.ExecuteAsync(_ => ++attempts == 1 ? ValueTask.FromException<int>(new IOException()) : new ValueTask<int>(attempts));

        // Timers wait whole milliseconds: the wait is the delay rounded up to one.
        Assert.Equal(2, result);
        var waited = Assert.Single(time.Delays);
        Assert.InRange(waited, delay, delay + TimeSpan.FromMilliseconds(1));
    }
}
