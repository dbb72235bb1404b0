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
