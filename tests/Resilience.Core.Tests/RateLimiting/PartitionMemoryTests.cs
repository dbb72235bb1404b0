namespace Resilience.Tests.RateLimiting;

[Collection(ProcessMemoryCollection.Name)]
public class PartitionMemoryTests
{
    [Fact]
    public void A_million_distinct_keys_keep_partitions_and_memory_bounded()
    {
        const int Cap = 10_000;
        using var limiter = new BoundedPartitionedLimiter<int>(_ => new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 10, Burst = 10 }), Cap);
        for (var key = 0; key < 50_000; key++)
        {
            limiter.AttemptAcquire(key).Dispose();
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var baseline = GC.GetTotalMemory(forceFullCollection: true);
        var maxCount = 0;
        for (var key = 50_000; key < 1_000_000; key++)
        {
            limiter.AttemptAcquire(key).Dispose();
            maxCount = Math.Max(maxCount, limiter.Count);
        }

        var after = GC.GetTotalMemory(forceFullCollection: true);

        Assert.InRange(maxCount, Cap, Cap + 1);
        Assert.InRange(limiter.Count, 1, Cap + 1);
        Assert.Equal(1_000_000, limiter.PartitionsCreated);
        Assert.Equal(limiter.PartitionsCreated - limiter.Count, limiter.PartitionsEvicted);

        // 950,000 more keys than the baseline, but memory is that of at most Cap partitions either way.
        Assert.True(after - baseline < 16 * 1024 * 1024, $"memory grew by {after - baseline} bytes");
    }
}
