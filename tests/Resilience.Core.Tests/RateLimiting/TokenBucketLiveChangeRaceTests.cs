using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.RateLimiting;

/// <summary>
/// Reads of a token bucket that an options change overtakes midway: the answer is the bucket's before the change or
/// after it, never the old settings' figures read through the new ones.
/// </summary>
public class TokenBucketLiveChangeRaceTests
{
    [Fact]
    public void Statistics_overtaken_by_a_change_count_the_permits_of_one_settings()
    {
        var clock = new ReadingHookTimeProvider(new FakeTimeProvider());
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 100, Burst = 4, TimeProvider = clock });
        Assert.True(bucket.AttemptAcquire(2).IsAcquired);

        // Two permits held at 100 a second are two at 400 a second (the change keeps them): before the change and after
        // it, two are available. The change comes while the statistics read the clock, after they read the arrival.
        clock.AtNextReading = () => bucket.UpdateOptions(new TokenBucketLimiterOptions { PermitsPerSecond = 400, Burst = 8 });
        var available = bucket.GetStatistics()!.CurrentAvailablePermits;

        Assert.Equal(2, available);
        Assert.Equal(2, bucket.GetStatistics()!.CurrentAvailablePermits);
    }
}
