using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using Resilience.Telemetry;

namespace Resilience.Tests.Telemetry;

/// <summary>
/// A typed pipeline's call count judges results with the outermost strategy's predicate: a result the strategies call a
/// failure and pass on (a last retry's error response) is a <c>failure</c>, a result a fallback served is judged as it is.
/// </summary>
public sealed class JudgedResultTelemetryTests : IDisposable
{
    private static readonly Func<Outcome<int>, bool> Negative = static o => o.Exception is not null || o.Result < 0;

    private readonly FakeLoggerProvider _logs = new();
    private readonly ILoggerFactory _loggerFactory;
    private readonly ResilienceTelemetry _telemetry;
    private readonly FakeTimeProvider _time = new();

    public JudgedResultTelemetryTests()
    {
        _loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(_logs));
        _telemetry = new ResilienceTelemetry(loggerFactory: _loggerFactory);
    }

    public void Dispose()
    {
        _telemetry.Dispose();
        _loggerFactory.Dispose();
        _logs.Dispose();
    }

    private ResiliencePipelineBuilder<int> Builder() =>
        new ResiliencePipelineBuilder<int> { Name = "orders", TimeProvider = _time }.AddTelemetry(_telemetry);

    private static Dictionary<string, long> ByOutcome(MetricCollector<long> calls) => calls.GetMeasurementSnapshot()
        .GroupBy(m => (string)m.Tags["outcome"]!)
        .ToDictionary(g => g.Key, g => g.Sum(m => m.Value));

    [Fact]
    public void A_result_the_retry_judges_a_failure_and_passes_on_is_counted_as_a_failure()
    {
        using var calls = new MetricCollector<long>(_telemetry.Meter, "resilience.pipeline.calls");
        using var duration = new MetricCollector<double>(_telemetry.Meter, "resilience.pipeline.duration");
        var attempts = 0;
        var pipeline = Builder()
            .AddRetry(new RetryOptions { MaxRetryAttempts = 2, Delay = TimeSpan.Zero, UseJitter = false }, Negative)
            .Build();

        Assert.Equal(-1, pipeline.Execute(_ => { attempts++; return -1; }));
        Assert.Equal(5, pipeline.Execute(static _ => 5));

        Assert.Equal(3, attempts);
        Assert.Equal(new Dictionary<string, long> { ["failure"] = 1, ["success"] = 1 }, ByOutcome(calls));
        Assert.Equal(["failure", "success"], duration.GetMeasurementSnapshot().Select(m => (string)m.Tags["outcome"]!));
    }

    [Fact]
    public async Task The_outermost_predicate_judges_so_a_result_only_an_inner_strategy_calls_a_failure_is_judged_by_the_outer_one()
    {
        using var calls = new MetricCollector<long>(_telemetry.Meter, "resilience.pipeline.calls");
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { MinimumThroughput = 100, TimeProvider = _time });

        // The retry (outermost) handles -1 only; the breaker inside also calls -2 a failure.
        var pipeline = Builder()
            .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.Zero, UseJitter = false }, static o => o.Exception is not null || o.Result == -1)
            .AddCircuitBreaker(breaker, Negative)
            .Build();

        Assert.Equal(-1, await pipeline.ExecuteAsync(static _ => ValueTask.FromResult(-1)));
        Assert.Equal(-2, await pipeline.ExecuteAsync(static _ => ValueTask.FromResult(-2)));
        Assert.Equal(-1, pipeline.ExecuteOutcome(static (_, _) => -1, 0).Result);

        Assert.Equal(new Dictionary<string, long> { ["failure"] = 2, ["success"] = 1 }, ByOutcome(calls));
        Assert.Equal(5, breaker.GetSnapshot().Failures); // two attempts for each -1, one for -2
    }

    [Fact]
    public void A_served_value_is_judged_as_it_is_by_the_fallback_predicate()
    {
        using var calls = new MetricCollector<long>(_telemetry.Meter, "resilience.pipeline.calls");
        using var served = new MetricCollector<long>(_telemetry.Meter, "resilience.fallback.served");
        var good = Builder().AddFallback(new FallbackOptions<int> { Levels = { FallbackLevel<int>.FromValue("default", 0) } }, Negative).Build();
        var degraded = Builder().AddFallback(new FallbackOptions<int> { Levels = { FallbackLevel<int>.FromValue("unavailable", -503) } }, Negative).Build();

        Assert.Equal(0, good.Execute(static _ => -1));
        Assert.Equal(-503, degraded.Execute(static _ => -1));

        Assert.Equal(2, served.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.Equal(new Dictionary<string, long> { ["success"] = 1, ["failure"] = 1 }, ByOutcome(calls));
    }

    [Fact]
    public void A_predicate_that_throws_only_for_the_count_leaves_the_result_to_the_caller_counts_a_success_and_is_logged()
    {
        using var calls = new MetricCollector<long>(_telemetry.Meter, "resilience.pipeline.calls");

        // The fallback's predicate throws on the value it serves, which only the call count judges.
        var pipeline = Builder()
            .AddFallback(
                new FallbackOptions<int> { Levels = { FallbackLevel<int>.FromValue("odd", 7) } },
                static o => o.Result == 7 ? throw new FormatException("judged 7") : o.Exception is not null || o.Result < 0)
            .Build();

        Assert.Equal(7, pipeline.Execute(static _ => -1));

        Assert.Equal(new Dictionary<string, long> { ["success"] = 1 }, ByOutcome(calls));
        var log = Assert.Single(_logs.Collector.GetSnapshot(), r => r.Id.Id == 6);
        Assert.Equal(LogLevel.Warning, log.Level);
        Assert.IsType<FormatException>(log.Exception);
        Assert.Contains("'orders'", log.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_call_count_reads_no_retry_after_hint()
    {
        using var calls = new MetricCollector<long>(_telemetry.Meter, "resilience.pipeline.calls");
        var reads = 0;
        var builder = Builder();
        builder.RetryAfterHint = o => { reads++; return TimeSpan.Zero; };
        var pipeline = builder.AddCircuitBreaker(new CircuitBreakerOptions { MinimumThroughput = 100, TimeProvider = _time }, Negative).Build();

        Assert.Equal(-1, pipeline.Execute(static _ => -1));

        // The breaker's judgement reads it; the call count's does not.
        Assert.Equal(1, reads);
        Assert.Equal(new Dictionary<string, long> { ["failure"] = 1 }, ByOutcome(calls));
    }

    [Fact]
    public void Without_a_strategy_that_judges_results_a_result_is_a_success_and_untyped_pipelines_are_unchanged()
    {
        using var calls = new MetricCollector<long>(_telemetry.Meter, "resilience.pipeline.calls");
        var typed = Builder().AddTimeout(TimeSpan.FromSeconds(1)).Build();
        var untyped = new ResiliencePipelineBuilder { Name = "orders", TimeProvider = _time }
            .AddTelemetry(_telemetry)
            .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.Zero }, static e => e is InvalidOperationException)
            .Build();

        Assert.Equal(-1, typed.Execute(static _ => -1));
        Assert.Equal(-1, untyped.Execute(static _ => -1));
        Assert.Throws<InvalidOperationException>(() => untyped.Execute<int>(static _ => throw new InvalidOperationException()));

        Assert.Equal(new Dictionary<string, long> { ["success"] = 2, ["failure"] = 1 }, ByOutcome(calls));
    }
}
