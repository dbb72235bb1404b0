using System.Runtime.CompilerServices;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Resilience.Telemetry;

namespace Resilience.Tests.Telemetry;

/// <summary>Pipelines and instruments built and dropped in a loop: nothing of theirs stays behind.</summary>
public sealed class TrackingLifetimeTests
{
    [Fact]
    public void Ten_thousand_instrumented_pipelines_built_and_dropped_are_collected_with_the_instances_they_tracked()
    {
        using var telemetry = new ResilienceTelemetry();
        using var states = new MetricCollector<int>(telemetry.Meter, "resilience.circuit_breaker.state");
        using var permits = new MetricCollector<long>(telemetry.Meter, "resilience.rate_limiter.permits_available");
        using var calls = new MetricCollector<long>(telemetry.Meter, "resilience.pipeline.calls");

        var first = BuildAndDrop(telemetry, 10_000);

        Assert.Equal(10_000, calls.GetMeasurementSnapshot().Count);
        Assert.True(Collected(first), "the first pipeline is still reachable");

        // Their breakers and limiters were tracked and their registrations dropped: collected, they leave the gauges.
        states.RecordObservableInstruments();
        permits.RecordObservableInstruments();
        Assert.Equal((0, 0), (states.GetMeasurementSnapshot().Count, permits.GetMeasurementSnapshot().Count));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference BuildAndDrop(ResilienceTelemetry telemetry, int count)
    {
        WeakReference? first = null;
        for (var i = 0; i < count; i++)
        {
            var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { Name = $"breaker-{i}" });
            var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 4 });
            telemetry.Track(breaker);
            telemetry.Track(limiter, $"limiter-{i}");
            var pipeline = new ResiliencePipelineBuilder { Name = $"pipeline-{i}" }
                .AddTelemetry(telemetry)
                .AddCircuitBreaker(breaker)
                .AddRateLimiter(limiter)
                .AddTimeout(TimeSpan.FromMinutes(1))
                .Build();
            pipeline.Execute(static _ => { });
            first ??= new WeakReference(pipeline);
        }

        return first!;
    }

    /// <summary>
    /// Collects until the reference is gone, a bounded number of times, and at least three: an object reachable only
    /// from one awaiting finalization (a timer's) survives the collection that finds it unreachable.
    /// </summary>
    private static bool Collected(WeakReference reference)
    {
        for (var attempt = 0; attempt < 10 && (attempt < 3 || reference.IsAlive); attempt++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        return !reference.IsAlive;
    }
}
