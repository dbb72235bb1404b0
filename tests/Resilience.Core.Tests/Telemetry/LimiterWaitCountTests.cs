using System.Threading.RateLimiting;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;
using Resilience.Telemetry;

namespace Resilience.Tests.Telemetry;

/// <summary>
/// <c>resilience.rate_limiter.waits</c> counts calls that waited in a limiter's queue: a call whose queue answered at
/// once (full, so refused) never waited, whichever strategy asked the queue.
/// </summary>
public sealed class LimiterWaitCountTests : IDisposable
{
    private readonly ResilienceTelemetry _telemetry = new();
    private readonly MetricCollector<long> _waits;
    private readonly MetricCollector<long> _rejections;
    private readonly MetricCollector<long> _calls;

    public LimiterWaitCountTests()
    {
        _waits = new(_telemetry.Meter, "resilience.rate_limiter.waits");
        _rejections = new(_telemetry.Meter, "resilience.rate_limiter.rejections");
        _calls = new(_telemetry.Meter, "resilience.pipeline.calls");
    }

    public void Dispose()
    {
        _calls.Dispose();
        _rejections.Dispose();
        _waits.Dispose();
        _telemetry.Dispose();
    }

    public static TheoryData<string> Limiters => new() { "in-flight", "bcl-concurrency", "partitioned" };

    [Theory]
    [MemberData(nameof(Limiters))]
    public async Task A_call_refused_because_the_queue_is_full_is_a_rejection_and_no_wait(string kind)
    {
        var (pipeline, limiter) = Build(kind);
        using var held = limiter.AttemptAcquire();
        Assert.True(held.IsAcquired);

        // The first call takes the one place in the queue and waits; the second finds the queue full.
        var waiting = pipeline.ExecuteOutcomeAsync(static (_, _) => new ValueTask<int>(1), 0);
        var refused = await pipeline.ExecuteOutcomeAsync(static (_, _) => new ValueTask<int>(2), 0);
        Assert.True(refused.IsRejected);
        Assert.Equal(1, _waits.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.Equal(1, _rejections.GetMeasurementSnapshot().Sum(m => m.Value));

        held.Dispose();
        Assert.Equal(1, (await waiting).Result);
        Assert.Equal(["rejected", "success"], _calls.GetMeasurementSnapshot().Select(m => (string)m.Tags["outcome"]!));
        Assert.Equal(1, _waits.GetMeasurementSnapshot().Sum(m => m.Value));
        limiter.Dispose();
    }

    [Fact]
    public async Task A_call_in_the_bucket_s_queue_waited_even_when_it_is_served_before_the_pipeline_looks()
    {
        // Time passes as soon as the waiter's timer is armed (the caller's thread preempted meanwhile, or the clock moved
        // by another): the wait is over before the pipeline goes on. The call waited 100 ms all the same.
        var time = new ArmingTimeProvider(DateTimeOffset.UnixEpoch);
        using var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 10, Burst = 1, MaxWait = TimeSpan.FromMilliseconds(250), TimeProvider = time });
        var pipeline = new ResiliencePipelineBuilder<int> { Name = "orders", TimeProvider = time }.AddTelemetry(_telemetry).AddRateLimiter(bucket).Build();
        Assert.Equal(1, (await pipeline.ExecuteOutcomeAsync(static (_, _) => new ValueTask<int>(1), 0)).Result);
        Assert.Empty(_waits.GetMeasurementSnapshot());

        var advanced = false;
        time.OnArmed = () =>
        {
            if (!advanced)
            {
                advanced = true;
                time.Advance(TimeSpan.FromMilliseconds(100));
            }
        };
        var start = time.GetTimestamp();
        Assert.Equal(2, (await pipeline.ExecuteOutcomeAsync(static (_, _) => new ValueTask<int>(2), 0)).Result);
        Assert.True(advanced);
        Assert.Equal(TimeSpan.FromMilliseconds(100), time.GetElapsedTime(start));
        Assert.Equal(1, _waits.GetMeasurementSnapshot().Sum(m => m.Value));
    }

    [Fact]
    public async Task A_call_queued_by_the_concurrency_limiter_waited_even_when_it_is_served_before_the_pipeline_looks()
    {
        // The permit comes back as soon as the call is queued (its queue timeout armed), before the pipeline goes on.
        var time = new ArmingTimeProvider(DateTimeOffset.UnixEpoch);
        using var inFlight = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1, QueueTimeout = TimeSpan.FromSeconds(1), TimeProvider = time });
        var pipeline = new ResiliencePipelineBuilder<int> { Name = "orders", TimeProvider = time }.AddTelemetry(_telemetry).AddRateLimiter(inFlight).Build();
        var held = inFlight.AttemptAcquire();
        Assert.True(held.IsAcquired);
        time.OnArmed = () => held.Dispose();

        Assert.Equal(1, (await pipeline.ExecuteOutcomeAsync(static (_, _) => new ValueTask<int>(1), 0)).Result);
        Assert.Equal(1, inFlight.GetStatistics()!.CurrentAvailablePermits);
        Assert.Equal(1, _waits.GetMeasurementSnapshot().Sum(m => m.Value));
    }

    [Fact]
    public async Task A_call_in_a_partition_s_queue_waited_even_when_it_is_served_before_the_pipeline_looks()
    {
        // A partitioned limiter whose partitions are waiting token buckets: as for the bucket alone, the reservation's
        // time passes as soon as its timer is armed.
        var time = new ArmingTimeProvider(DateTimeOffset.UnixEpoch);
        using var partitioned = new BoundedPartitionedLimiter<int>(
            _ => new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 10, Burst = 1, MaxWait = TimeSpan.FromMilliseconds(250), TimeProvider = time }));
        var pipeline = new ResiliencePipelineBuilder<int> { Name = "orders", TimeProvider = time }
            .AddTelemetry(_telemetry).AddRateLimiter(partitioned, static () => 1, waitForPermit: true).Build();
        Assert.Equal(1, (await pipeline.ExecuteOutcomeAsync(static (_, _) => new ValueTask<int>(1), 0)).Result);

        var advanced = false;
        time.OnArmed = () =>
        {
            if (!advanced)
            {
                advanced = true;
                time.Advance(TimeSpan.FromMilliseconds(100));
            }
        };
        Assert.Equal(2, (await pipeline.ExecuteOutcomeAsync(static (_, _) => new ValueTask<int>(2), 0)).Result);
        Assert.True(advanced);
        Assert.Equal(1, _waits.GetMeasurementSnapshot().Sum(m => m.Value));
    }

    private (ResiliencePipeline<int> Pipeline, RateLimiter Limiter) Build(string kind)
    {
        var builder = new ResiliencePipelineBuilder<int> { Name = "orders", TimeProvider = new FakeTimeProvider() }.AddTelemetry(_telemetry);
        switch (kind)
        {
            case "in-flight":
                var inFlight = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
                return (builder.AddRateLimiter(inFlight).Build(), inFlight);
            case "bcl-concurrency":
                var concurrency = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
                return (builder.AddRateLimiter(concurrency, waitForPermit: true).Build(), concurrency);
            default:
                // One key: its partition is the limiter the test holds.
                var partition = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
                var partitioned = new BoundedPartitionedLimiter<int>(_ => partition);
                return (builder.AddRateLimiter(partitioned, static () => 1, waitForPermit: true).Build(), partition);
        }
    }
}
