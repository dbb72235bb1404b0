using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Resilience.Tests.DependencyInjection;

namespace Resilience.Tests.Configuration;

/// <summary>What many reloads leave behind: one observer per instance in service, and nothing of those they replaced.</summary>
public class ReloadLifetimeTests
{
    private const string Pipeline = "Resilience:Pipelines:orders:";

    private static Dictionary<string, string?> Orders() => new()
    {
        [Pipeline + "Strategies:0"] = "CircuitBreaker",
        [Pipeline + "Strategies:1"] = "Limit",
        [Pipeline + "Strategies:2"] = "Timeout",
        [Pipeline + "CircuitBreaker:MinimumThroughput"] = "2",
        [Pipeline + "CircuitBreaker:FailureRatio"] = "0.5",
        [Pipeline + "Limit:Type"] = "ConcurrencyLimiter",
        [Pipeline + "Limit:PermitLimit"] = "2",
        [Pipeline + "Timeout:Timeout"] = "00:00:10",
    };

    [Fact]
    public async Task Two_thousand_reloads_leave_one_observer_per_instance_and_let_the_replaced_limiters_go()
    {
        using var container = new TestContainer(Orders());
        var pipeline = container.Provider.GetPipeline("orders");
        var breaker = BreakerOf(pipeline);
        var first = LimiterOf(pipeline);

        for (var i = 0; i < 2_000; i++)
        {
            // Every reload changes thresholds in place; every tenth also replaces the limiter (its section changes type).
            var bucket = i / 10 % 2 == 0;
            container.Change(
                (Pipeline + "CircuitBreaker:FailureRatio", (0.5 + (i % 2 * 0.1)).ToString(CultureInfo.InvariantCulture)),
                (Pipeline + "Timeout:Timeout", i % 2 == 0 ? "00:00:11" : "00:00:10"),
                (Pipeline + "Limit:Type", bucket ? "TokenBucket" : "ConcurrencyLimiter"),
                (Pipeline + "Limit:PermitLimit", bucket ? null : "2"),
                (Pipeline + "Limit:Burst", bucket ? "20" : null));
            Assert.True(container.Provider.LastReload!.IsApplied, container.Provider.LastReload.ToString());
            await pipeline.ExecuteAsync(static _ => ValueTask.CompletedTask);
        }

        Assert.Same(breaker, BreakerOf(pipeline));
        using var states = new MetricCollector<int>(container.Telemetry.Meter, "resilience.circuit_breaker.state");
        using var permits = new MetricCollector<long>(container.Telemetry.Meter, "resilience.rate_limiter.permits_available");
        using var transitions = new MetricCollector<long>(container.Telemetry.Meter, "resilience.circuit_breaker.transitions");
        states.RecordObservableInstruments();
        permits.RecordObservableInstruments();
        Assert.Equal(["orders/CircuitBreaker"], states.GetMeasurementSnapshot().Select(m => (string)m.Tags["strategy"]!));
        Assert.Equal(["orders/Limit"], permits.GetMeasurementSnapshot().Select(m => (string)m.Tags["strategy"]!));

        // One handler on the breaker's transitions however many reloads updated it: one opening is counted once. The
        // window of the calls above passes first.
        container.Time.Advance(TimeSpan.FromSeconds(11));
        for (var i = 0; i < 2; i++)
        {
            await pipeline.ExecuteOutcomeAsync(static (_, _) => ValueTask.FromException<int>(new IOException()), 0);
        }

        Assert.Equal(CircuitState.Open, breaker.State);
        Assert.Equal(1, transitions.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.True(Collected(first), "the limiter the first reload of its section replaced is still reachable");
    }

    // The strategies are read in methods of their own: a temporary of the test's own frame holding the first strategy
    // list would keep its limiter reachable for the whole test.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Resilience.CircuitBreaker BreakerOf(ResiliencePipeline pipeline) => ((CircuitBreakerStrategy)pipeline.Strategies[1]).Breaker;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference LimiterOf(ResiliencePipeline pipeline) => new(((RateLimiterStrategy)pipeline.Strategies[2]).Limiter);

    /// <summary>Collects until the reference is gone, a bounded number of times, and at least three (see TrackingLifetimeTests).</summary>
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
