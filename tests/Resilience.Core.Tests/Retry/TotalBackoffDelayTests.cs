namespace Resilience.Tests.Retry;

/// <summary><see cref="RetryStrategy.TotalBackoffDelay"/>: how long all the retries wait, without jitter.</summary>
public class TotalBackoffDelayTests
{
    [Theory]
    [InlineData(RetryBackoff.Exponential, 3, 2 + 4 + 8)]
    [InlineData(RetryBackoff.Linear, 3, 2 + 4 + 6)]
    [InlineData(RetryBackoff.Constant, 3, 2 + 2 + 2)]
    [InlineData(RetryBackoff.Exponential, 6, 2 + 4 + 8 + 16 + 30 + 30)]
    [InlineData(RetryBackoff.Linear, 0, 0)]
    public void The_delays_of_every_retry_add_up_each_capped(RetryBackoff backoff, int retries, int seconds)
    {
        var options = new RetryOptions { Backoff = backoff, Delay = TimeSpan.FromSeconds(2), MaxDelay = TimeSpan.FromSeconds(30), MaxRetryAttempts = retries, UseJitter = true };

        Assert.Equal(TimeSpan.FromSeconds(seconds), RetryStrategy.TotalBackoffDelay(options));
    }

    [Fact]
    public void The_largest_options_add_up_without_overflow_and_invalid_ones_are_refused()
    {
        var largest = new RetryOptions { Backoff = RetryBackoff.Exponential, Delay = TimeSpan.FromDays(1), MaxDelay = TimeSpan.FromDays(1), MaxRetryAttempts = 100 };

        Assert.Equal(TimeSpan.FromDays(100), RetryStrategy.TotalBackoffDelay(largest));
        Assert.Throws<ArgumentOutOfRangeException>(() => RetryStrategy.TotalBackoffDelay(new RetryOptions { MaxRetryAttempts = -1 }));
        Assert.Throws<ArgumentNullException>(() => RetryStrategy.TotalBackoffDelay(null!));
    }
}
