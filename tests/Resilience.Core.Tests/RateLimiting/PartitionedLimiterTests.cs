using System.Threading.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.RateLimiting;

public class PartitionedLimiterTests
{
    [Fact]
    public void A_key_flood_evicts_idle_partitions_before_one_whose_permit_is_held()
    {
        // Evicting a partition whose permits are held forgets them: its key would get a fresh limit while its calls run.
        var limiter = new BoundedPartitionedLimiter<int>(_ => new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1 }), maxPartitions: 4);
        using var held = limiter.AttemptAcquire(0);
        Assert.True(held.IsAcquired);
        for (var key = 1; key <= 100; key++)
        {
            limiter.AttemptAcquire(key).Dispose();
            Assert.InRange(limiter.Count, 1, 5);
        }

        // Key 0's permit is still held: its partition refuses a second call, where a fresh one would admit it.
        using var second = limiter.AttemptAcquire(0);
        Assert.False(second.IsAcquired);
    }

    [Fact]
    public async Task A_partition_limiter_disposed_by_its_owner_throws_instead_of_being_retried_for_ever()
    {
        // A limiter evicted between lookup and use is retried with a fresh partition; one disposed by whoever owns it
        // (here a limiter the factory shares) stays the key's partition, so a retry would meet it again, for ever.
        var shared = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1 });
        using var limiter = new BoundedPartitionedLimiter<string>(_ => shared);
        Assert.True(limiter.AttemptAcquire("a").IsAcquired);
        shared.Dispose();

        var attempt = Task.Run(() => limiter.AttemptAcquire("a"));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => attempt.WaitAsync(TimeSpan.FromSeconds(30)));
        var acquisition = Task.Run(async () => await limiter.AcquireAsync("b"));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => acquisition.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public void AcquireAsync_throws_a_bad_permit_count_and_disposal_at_the_call_as_the_bcl_partitioned_limiter_does()
    {
        // A caller checking its arguments at the call, as the BCL's partitioned limiter lets it, must not find them in
        // the task instead.
        var bcl = PartitionedRateLimiter.Create<string, string>(key => RateLimitPartition.GetConcurrencyLimiter(key, _ => new ConcurrencyLimiterOptions { PermitLimit = 1 }));
        var ours = new BoundedPartitionedLimiter<string>(_ => new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1 }));
        foreach (var limiter in new PartitionedRateLimiter<string>[] { bcl, ours })
        {
            var tooMany = Assert.Throws<ArgumentOutOfRangeException>(() => { _ = limiter.AcquireAsync("a", 2); });
            Assert.Equal("permitCount", tooMany.ParamName);
            limiter.Dispose();
            Assert.Throws<ObjectDisposedException>(() => { _ = limiter.AcquireAsync("a"); });
        }
    }

    [Fact]
    public void A_partition_created_while_the_limiter_is_disposed_is_disposed_and_grants_nothing()
    {
        // The factory runs between the disposal check and the partition's add: a disposal there (another thread's, here
        // the factory's own) enumerated the partitions before this one was added, and the call was granted after it.
        BoundedPartitionedLimiter<string>? partitioned = null;
        InFlightLimiter? created = null;
        partitioned = new BoundedPartitionedLimiter<string>(_ =>
        {
            partitioned!.Dispose();
            return created = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        });

        Assert.Throws<ObjectDisposedException>(() => partitioned.AttemptAcquire("a"));
        Assert.Throws<ObjectDisposedException>(() => created!.AttemptAcquire());
        Assert.Equal(0, partitioned.Count);
    }

    [Fact]
    public async Task A_waiter_completes_when_its_partition_serves_it()
    {
        // The release that serves the waiter completes its task before returning, as under the BCL's partitioned limiter,
        // not a thread-pool hop later through a wrapper of ours.
        using var limiter = new BoundedPartitionedLimiter<string>(_ => new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1 }));
        var held = limiter.AttemptAcquire("a");
        var waiting = limiter.AcquireAsync("a");
        Assert.False(waiting.IsCompleted);

        held.Dispose();
        Assert.True(waiting.IsCompleted);
        using var lease = await waiting;
        Assert.True(lease.IsAcquired);
    }

    [Fact]
    public async Task A_partition_evicted_while_its_async_limiter_acquires_is_retried_on_a_fresh_partition()
    {
        // A limiter written as an async method reports its disposal in the task it returns: the first partition's limiter
        // is evicted (a second key passes the cap of one) in the middle of its own acquisition.
        BoundedPartitionedLimiter<string>? partitioned = null;
        var created = new List<AsyncLimiter>();
        partitioned = new BoundedPartitionedLimiter<string>(
            _ =>
            {
                var limiter = new AsyncLimiter(created.Count == 0 ? () => partitioned!.AttemptAcquire("b").Dispose() : null);
                created.Add(limiter);
                return limiter;
            },
            maxPartitions: 1);

        using var lease = await partitioned.AcquireAsync("a");
        Assert.True(lease.IsAcquired);
        Assert.True(created[0].IsDisposed);
        Assert.Equal(3, created.Count);
        partitioned.Dispose();
    }

    [Fact]
    public void A_cap_of_one_partition_keeps_only_the_newest_key_and_every_key_gets_its_own_limit()
    {
        var time = new FakeTimeProvider();
        var created = 0;
        var limiter = new BoundedPartitionedLimiter<int>(
            _ =>
            {
                created++;
                return new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 0.000001, Burst = 1, TimeProvider = time });
            },
            maxPartitions: 1,
            idleTimeout: TimeSpan.FromTicks(1));
        for (var key = 0; key < 100; key++)
        {
            Assert.True(limiter.AttemptAcquire(key).IsAcquired);
            Assert.False(limiter.AttemptAcquire(key).IsAcquired);
            Assert.Equal(1, limiter.Count);
        }

        Assert.Equal(100, created);
        Assert.Throws<ArgumentOutOfRangeException>(() => new BoundedPartitionedLimiter<int>(_ => new InFlightLimiter(new InFlightLimiterOptions()), maxPartitions: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BoundedPartitionedLimiter<int>(_ => new InFlightLimiter(new InFlightLimiterOptions()), idleTimeout: TimeSpan.Zero));
    }

    [Fact]
    public void Idle_partitions_are_evicted_and_come_back_fresh()
    {
        var time = new FakeTimeProvider();
        var created = 0;
        var limiter = new BoundedPartitionedLimiter<string>(
            _ =>
            {
                created++;
                return new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 1, TimeProvider = time });
            },
            maxPartitions: 4096,
            idleTimeout: TimeSpan.FromMinutes(1));

        Assert.True(limiter.AttemptAcquire("old").IsAcquired);
        time.Advance(TimeSpan.FromMinutes(2));
        for (var i = 0; i < 1024; i++)
        {
            limiter.AttemptAcquire($"k{i}").Dispose();
        }

        Assert.True(limiter.Count < 1025);
        Assert.True(limiter.AttemptAcquire("old").IsAcquired);
        Assert.Equal(1026, created);
    }

    [Fact]
    public void An_idle_concurrency_partition_is_evicted_by_the_first_trim_an_idle_timeout_after_the_one_that_saw_it_idle()
    {
        // A concurrency limiter reads no clock as it releases: its idle time counts from the first reading that finds it
        // idle, and this limiter reads it only as it trims (every 1,024 new partitions here).
        var time = new FakeTimeProvider();
        var created = 0;
        using var limiter = new BoundedPartitionedLimiter<string>(
            _ =>
            {
                created++;
                return new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, TimeProvider = time });
            },
            maxPartitions: 4096,
            idleTimeout: TimeSpan.FromMinutes(1));
        limiter.AttemptAcquire("old").Dispose();
        time.Advance(TimeSpan.FromMinutes(2));

        // The first trim finds "old" idle, for the first time: idle from then, so kept (a token bucket full for two
        // minutes would go; see Idle_partitions_are_evicted_and_come_back_fresh).
        for (var i = 0; i < 1023; i++)
        {
            limiter.AttemptAcquire($"a{i}").Dispose();
        }

        Assert.Equal(0, limiter.PartitionsEvicted);

        // The next trim, an idle timeout later, evicts it and the keys that first trim saw idle: all but the newest, which
        // made that trim and was left out of it.
        time.Advance(TimeSpan.FromMinutes(1));
        for (var i = 0; i < 1024; i++)
        {
            limiter.AttemptAcquire($"b{i}").Dispose();
        }

        Assert.Equal(1023, limiter.PartitionsEvicted);
        Assert.Equal(2048, created);
        limiter.AttemptAcquire("old").Dispose();
        Assert.Equal(2049, created);
    }

    [Fact]
    public void Aspnet_style_partitioned_rate_limiter_create_works_with_our_token_bucket()
    {
        var time = new FakeTimeProvider();
        using var limiter = PartitionedRateLimiter.Create<string, string>(resource =>
            RateLimitPartition.Get(resource, _ => new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 2, TimeProvider = time })));

        var user1 = Enumerable.Range(0, 3).Select(_ => limiter.AttemptAcquire("user-1").IsAcquired).ToList();
        var user2 = limiter.AttemptAcquire("user-2").IsAcquired;
        time.Advance(TimeSpan.FromSeconds(1));
        var later = limiter.AttemptAcquire("user-1");

        Assert.Equal([true, true, false], user1);
        Assert.True(user2);
        Assert.True(later.IsAcquired);
    }

    [Fact]
    public async Task Polly_rate_limiter_pipeline_works_with_our_limiters()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 1, TimeProvider = time });
        var polly = Polly.RateLimiterResiliencePipelineBuilderExtensions.AddRateLimiter(new Polly.ResiliencePipelineBuilder(), bucket).Build();

        Assert.Equal(1, await polly.ExecuteAsync(static _ => new ValueTask<int>(1)));
        var rejected = await Assert.ThrowsAsync<Polly.RateLimiting.RateLimiterRejectedException>(() => polly.ExecuteAsync(static _ => new ValueTask<int>(2)).AsTask());
        Assert.Equal(TimeSpan.FromSeconds(1), rejected.RetryAfter);

        var inFlight = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1 });
        var pollyConcurrency = Polly.RateLimiterResiliencePipelineBuilderExtensions.AddRateLimiter(new Polly.ResiliencePipelineBuilder(), inFlight).Build();
        Assert.Equal(3, await pollyConcurrency.ExecuteAsync(static _ => new ValueTask<int>(3)));
        Assert.Equal(1, inFlight.GetStatistics()!.CurrentAvailablePermits);
    }

    /// <summary>A limiter whose acquisition is an async method, and may do something first (evict its own partition).</summary>
    private sealed class AsyncLimiter(Action? first) : RateLimiter
    {
        public bool IsDisposed { get; private set; }

        public override TimeSpan? IdleDuration => TimeSpan.Zero;

        public override RateLimiterStatistics? GetStatistics() => null;

        protected override RateLimitLease AttemptAcquireCore(int permitCount) => new Lease();

        protected override async ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
        {
            first?.Invoke();
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            return await new ValueTask<RateLimitLease>(new Lease());
        }

        protected override void Dispose(bool disposing) => IsDisposed = true;

        private sealed class Lease : RateLimitLease
        {
            public override bool IsAcquired => true;

            public override IEnumerable<string> MetadataNames => [];

            public override bool TryGetMetadata(string metadataName, out object? metadata)
            {
                metadata = null;
                return false;
            }
        }
    }
}
