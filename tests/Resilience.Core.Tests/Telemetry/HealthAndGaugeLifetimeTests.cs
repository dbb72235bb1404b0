using System.Threading.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Resilience.DependencyInjection;
using Resilience.Tests.DependencyInjection;

namespace Resilience.Tests.Telemetry;

public sealed class HealthAndGaugeLifetimeTests
{
    private static readonly Dictionary<string, string?> Shared = new()
    {
        ["Resilience:CircuitBreakers:payments:MinimumThroughput"] = "2",
        ["Resilience:TokenBuckets:api:Burst"] = "5",
        ["Resilience:RetryBudgets:backend:MaxTokens"] = "20",
    };

    [Fact]
    public void Strategies_a_reload_takes_out_of_service_are_no_longer_reported_by_the_gauges_or_in_health()
    {
        using var container = new TestContainer(new Dictionary<string, string?>(Shared)
        {
            ["Resilience:Pipelines:orders:Strategies:0"] = "CircuitBreaker",
            ["Resilience:Pipelines:orders:Strategies:1"] = "ConcurrencyLimiter",
            ["Resilience:Pipelines:orders:ConcurrencyLimiter:PermitLimit"] = "3",
        });
        _ = container.Provider.GetPipeline("orders");
        using var states = new MetricCollector<int>(container.Telemetry.Meter, "resilience.circuit_breaker.state");
        using var permits = new MetricCollector<long>(container.Telemetry.Meter, "resilience.rate_limiter.permits_available");
        states.RecordObservableInstruments();
        permits.RecordObservableInstruments();
        Assert.Equal(["orders/CircuitBreaker", "payments"], states.GetMeasurementSnapshot().Select(m => (string)m.Tags["strategy"]!).Order());
        Assert.Equal(["api", "orders/ConcurrencyLimiter"], permits.GetMeasurementSnapshot().Select(m => (string)m.Tags["strategy"]!).Order());
        states.Clear();
        permits.Clear();

        container.Change(
            ("Resilience:Pipelines:orders:Strategies:0", "Timeout"),
            ("Resilience:Pipelines:orders:Strategies:1", null),
            ("Resilience:Pipelines:orders:ConcurrencyLimiter:PermitLimit", null));
        Assert.True(container.Provider.LastReload!.IsApplied, container.Provider.LastReload.ToString());
        states.RecordObservableInstruments();
        permits.RecordObservableInstruments();

        Assert.Equal(["payments"], states.GetMeasurementSnapshot().Select(m => (string)m.Tags["strategy"]!));
        Assert.Equal(["api"], permits.GetMeasurementSnapshot().Select(m => (string)m.Tags["strategy"]!));
        var health = container.Provider.GetHealth();
        Assert.Equal(["payments"], health.CircuitBreakers.Select(b => b.Name));
        Assert.Equal(["api"], health.RateLimiters.Select(l => l.Name));
    }

    [Fact]
    public void A_disposed_provider_s_instances_are_no_longer_reported_and_a_disposed_container_s_meter_reports_nothing()
    {
        var container = new TestContainer(new Dictionary<string, string?>(Shared));
        var telemetry = container.Telemetry;
        _ = container.Provider;
        using var states = new MetricCollector<int>(telemetry.Meter, "resilience.circuit_breaker.state");
        using var permits = new MetricCollector<long>(telemetry.Meter, "resilience.rate_limiter.permits_available");
        using var balances = new MetricCollector<double>(telemetry.Meter, "resilience.retry_budget.balance");
        states.RecordObservableInstruments();
        Assert.Equal("payments", Assert.Single(states.GetMeasurementSnapshot()).Tags["strategy"]);
        states.Clear();

        container.Provider.Dispose();
        states.RecordObservableInstruments();
        permits.RecordObservableInstruments();
        balances.RecordObservableInstruments();
        Assert.Empty(states.GetMeasurementSnapshot());
        Assert.Empty(permits.GetMeasurementSnapshot());
        Assert.Empty(balances.GetMeasurementSnapshot());

        container.Dispose();
        using var tracked = telemetry.Track(new Resilience.CircuitBreaker(new CircuitBreakerOptions { Name = "late" }));
        states.RecordObservableInstruments();
        Assert.Empty(states.GetMeasurementSnapshot());
    }

    [Fact]
    public void Health_skips_a_limiter_of_a_pipeline_s_code_that_the_code_disposed_instead_of_throwing()
    {
        var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 2, QueueLimit = 0 });
        using var container = new TestContainer(
            new Dictionary<string, string?>(Shared),
            services => services.AddResiliencePipeline("search", (builder, _) => builder.AddRateLimiter(limiter, name: "search-limiter")));
        _ = container.Provider.GetPipeline("search");
        using var permits = new MetricCollector<long>(container.Telemetry.Meter, "resilience.rate_limiter.permits_available");
        limiter.Dispose();

        var health = container.Provider.GetHealth();
        permits.RecordObservableInstruments();

        Assert.Equal(["api"], health.RateLimiters.Select(l => l.Name));
        Assert.Equal(["api"], permits.GetMeasurementSnapshot().Select(m => (string)m.Tags["strategy"]!));
    }
    [Fact]
    public async Task Health_read_under_a_running_load_stays_within_each_instance_s_bounds_and_matches_the_gauges_at_rest()
    {
        using var container = new TestContainer(
            new Dictionary<string, string?>(),
            services =>
            {
                services.AddResilience()
                    .AddConcurrencyLimiter("db", o => { o.PermitLimit = 4; o.QueueLimit = 64; })
                    .AddRetryBudget("backend", o => o.MaxTokens = 10)
                    .AddCircuitBreaker("payments", o => o.FailureRatio = 1);
                services.AddResiliencePipeline("orders", (builder, context) => builder
                    .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.Zero, UseJitter = false, Budget = context.GetRetryBudget("backend") }, static _ => true)
                    .AddCircuitBreaker(context.GetCircuitBreaker("payments"))
                    .AddRateLimiter(context.GetConcurrencyLimiter("db"), waitForPermit: true));
            });
        var pipeline = container.Provider.GetPipeline("orders");
        var remaining = 4;
        var workers = Enumerable.Range(0, 4).Select(worker => Task.Run(async () =>
        {
            for (var i = 0; i < 300; i++)
            {
                try
                {
                    await pipeline.ExecuteAsync(async _ =>
                    {
                        await Task.Yield();
                        return i % 3 == 0 ? throw new IOException("down") : i;
                    });
                }
                catch (IOException)
                {
                    // A third of the calls fail after their retry, or without one when the budget is spent.
                }
            }

            Interlocked.Decrement(ref remaining);
        })).ToList();

        var reads = 0;
        while (Volatile.Read(ref remaining) > 0 && reads < 100_000)
        {
            var health = container.Provider.GetHealth();
            var db = health.RateLimiters.Single();
            Assert.InRange(db.AvailablePermits, 0, 4);
            Assert.InRange(db.QueuedPermits, 0, 64);
            Assert.InRange(health.RetryBudgets.Single().Balance, 0, 10);
            var window = health.CircuitBreakers.Single().Window;
            Assert.True(window.Calls >= window.Failures && window.Failures >= 0 && window.SlowCalls >= 0, window.ToString());
            Assert.True(health.IsHealthy);
            reads++;
        }

        await Task.WhenAll(workers);
        Assert.True(reads > 0);

        using var permits = new MetricCollector<long>(container.Telemetry.Meter, "resilience.rate_limiter.permits_available");
        using var queued = new MetricCollector<long>(container.Telemetry.Meter, "resilience.rate_limiter.queued");
        using var balances = new MetricCollector<double>(container.Telemetry.Meter, "resilience.retry_budget.balance");
        using var ratios = new MetricCollector<double>(container.Telemetry.Meter, "resilience.circuit_breaker.failure_ratio");
        permits.RecordObservableInstruments();
        queued.RecordObservableInstruments();
        balances.RecordObservableInstruments();
        ratios.RecordObservableInstruments();
        var atRest = container.Provider.GetHealth();
        Assert.Equal((4L, 0L), (atRest.RateLimiters.Single().AvailablePermits, atRest.RateLimiters.Single().QueuedPermits));
        Assert.Equal(atRest.RateLimiters.Single().AvailablePermits, Assert.Single(permits.GetMeasurementSnapshot()).Value);
        Assert.Equal(atRest.RateLimiters.Single().QueuedPermits, Assert.Single(queued.GetMeasurementSnapshot()).Value);
        Assert.Equal(atRest.RetryBudgets.Single().Balance, Assert.Single(balances.GetMeasurementSnapshot()).Value);
        Assert.Equal(atRest.CircuitBreakers.Single().Window.FailureRatio, Assert.Single(ratios.GetMeasurementSnapshot()).Value);
    }
}
