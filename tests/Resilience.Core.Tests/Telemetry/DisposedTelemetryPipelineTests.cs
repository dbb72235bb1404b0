using System.Diagnostics.Metrics;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;
using Resilience.Telemetry;

namespace Resilience.Tests.Telemetry;

/// <summary>
/// A disposed telemetry reports nothing more for the pipelines it instruments, also on a meter its factory keeps (and
/// may share with other telemetry instances): no call, duration or inner event is counted under it after Dispose.
/// </summary>
public sealed class DisposedTelemetryPipelineTests
{
    [Fact]
    public async Task Pipelines_of_a_disposed_telemetry_count_no_call_and_no_inner_event_on_a_meter_its_factory_keeps()
    {
        using var factory = new TestMeterFactory();
        var telemetry = new ResilienceTelemetry(factory);
        var names = new[]
        {
            "resilience.pipeline.calls", "resilience.circuit_breaker.rejections", "resilience.rate_limiter.rejections",
            "resilience.retry.attempts", "resilience.retry.budget_refusals", "resilience.fallback.served", "resilience.timeout.expired",
        };
        var counters = names.Select(name => new MetricCollector<long>(telemetry.Meter, name)).ToList();
        using var durations = new MetricCollector<double>(telemetry.Meter, "resilience.pipeline.duration");
        var time = new FakeTimeProvider();
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { Name = "ledger", TimeProvider = time });
        breaker.Isolate();
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1 });
        using var held = limiter.AttemptAcquire();
        var isolated = Pipeline("isolated", telemetry, time).AddCircuitBreaker(breaker).Build();
        var limited = Pipeline("limited", telemetry, time).AddRateLimiter(limiter).Build();
        var retried = Pipeline("retried", telemetry, time)
            .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.Zero, UseJitter = false }, static o => o.Exception is TimeoutRejectedException)
            .AddTimeout(new TimeoutOptions { Timeout = TimeSpan.FromSeconds(1) })
            .Build();
        var drained = new RetryBudget(new RetryBudgetOptions { MaxTokens = 2 });
        drained.RecordFailure();
        drained.RecordFailure();
        var throttled = Pipeline("throttled", telemetry, time)
            .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.Zero, UseJitter = false, Budget = drained })
            .Build();

        async Task CallAllAsync()
        {
            Assert.Equal(7, (await isolated.ExecuteOutcomeAsync(static (_, _) => new ValueTask<int>(1), 0)).Result);
            Assert.Equal(7, (await limited.ExecuteOutcomeAsync(static (_, _) => new ValueTask<int>(1), 0)).Result);
            var timedOut = await retried.ExecuteOutcomeAsync(
                static async (time, ct) =>
                {
                    time.Advance(TimeSpan.FromSeconds(2));
                    await Task.Delay(System.Threading.Timeout.Infinite, ct);
                    return 1;
                },
                time);
            Assert.Equal(7, timedOut.Result);
            Assert.Equal(7, (await throttled.ExecuteOutcomeAsync(static (_, _) => ValueTask.FromException<int>(new IOException("down")), 0)).Result);
        }

        await CallAllAsync();
        Assert.All(counters, counter => Assert.NotEmpty(counter.GetMeasurementSnapshot()));
        Assert.NotEmpty(durations.GetMeasurementSnapshot());
        counters.ForEach(counter => counter.Clear());
        durations.Clear();

        telemetry.Dispose();
        await CallAllAsync();
        var later = Pipeline("built-after", telemetry, time).Build();
        Assert.Equal(1, await later.ExecuteAsync(static _ => ValueTask.FromResult(1)));

        Assert.All(counters.Zip(names), pair => Assert.True(pair.First.GetMeasurementSnapshot().Count == 0, pair.Second));
        Assert.Empty(durations.GetMeasurementSnapshot());
        counters.ForEach(counter => counter.Dispose());
    }

    private static ResiliencePipelineBuilder<int> Pipeline(string name, ResilienceTelemetry telemetry, TimeProvider time) =>
        new ResiliencePipelineBuilder<int> { Name = name, TimeProvider = time }
            .AddTelemetry(telemetry)
            .AddFallback(new FallbackOptions<int> { Levels = { FallbackLevel<int>.FromValue("default", 7) } });

    private sealed class TestMeterFactory : IMeterFactory
    {
        private readonly List<Meter> _created = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(options.Name, options.Version, options.Tags, this);
            _created.Add(meter);
            return meter;
        }

        public void Dispose() => _created.ForEach(meter => meter.Dispose());
    }
}
