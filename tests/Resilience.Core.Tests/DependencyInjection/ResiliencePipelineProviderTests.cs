using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Options;
using Resilience.DependencyInjection;
using Resilience.Telemetry;

namespace Resilience.Tests.DependencyInjection;

public class ResiliencePipelineProviderTests
{
    private static readonly Dictionary<string, string?> NoSettings = [];

    [Fact]
    public void A_pipeline_is_the_same_instance_every_time_and_runs_its_strategies_inside_telemetry()
    {
        using var container = new TestContainer(NoSettings, services => services
            .AddResiliencePipeline("orders", (builder, context) => builder.AddStrategy(context.BindTimeout(configure: o => o.Timeout = TimeSpan.FromSeconds(2))))
            .AddResiliencePipeline<int>("prices", (builder, context) => builder.AddStrategy(context.BindRetry(configure: o => o.MaxRetryAttempts = 1))));

        var orders = container.Provider.GetPipeline("orders");
        var prices = container.Provider.GetPipeline<int>("prices");

        Assert.Same(orders, container.Provider.GetPipeline("orders"));
        Assert.Same(prices, container.Provider.GetPipeline<int>("prices"));
        Assert.Equal(["Telemetry", "orders/Timeout"], orders.Strategies.Select(s => s.Name));
        Assert.Equal("orders", orders.Name);
        Assert.Equal(TimeSpan.FromSeconds(2), ((TimeoutStrategy)orders.Strategies[1]).Timeout);
        Assert.Equal(42, prices.Execute(static _ => 42));
    }

    [Fact]
    public void Unknown_names_and_wrong_result_types_are_explained()
    {
        using var container = new TestContainer(NoSettings, services => services
            .AddResiliencePipeline("orders", (_, _) => { })
            .AddResiliencePipeline<int>("prices", (_, _) => { }));

        var missing = Assert.Throws<KeyNotFoundException>(() => container.Provider.GetPipeline("order"));
        Assert.Contains("Known pipelines: orders, prices", missing.Message, StringComparison.Ordinal);
        Assert.False(container.Provider.TryGetPipeline("order", out _));
        var typed = Assert.Throws<InvalidOperationException>(() => container.Provider.GetPipeline<string>("prices"));
        Assert.Equal("Pipeline 'prices' is registered as a ResiliencePipeline<Int32>; it was asked for as a ResiliencePipeline<String>.", typed.Message);
        Assert.Throws<InvalidOperationException>(() => container.Provider.GetPipeline("prices"));
        Assert.Throws<KeyNotFoundException>(() => container.Provider.GetCircuitBreaker("payments"));
    }

    [Fact]
    public void Try_get_finds_a_pipeline_of_that_name_and_type_and_answers_false_otherwise_without_throwing()
    {
        using var container = new TestContainer(NoSettings, services => services
            .AddResiliencePipeline("orders", (_, _) => { })
            .AddResiliencePipeline<int>("prices", (_, _) => { }));

        Assert.True(container.Provider.TryGetPipeline("ORDERS", out var orders));
        Assert.Same(container.Provider.GetPipeline("orders"), orders);
        Assert.True(container.Provider.TryGetPipeline<int>("prices", out var prices));
        Assert.Same(container.Provider.GetPipeline<int>("prices"), prices);

        // Registered with another result type, or untyped: no such pipeline for the type asked, as for an unknown name.
        Assert.False(container.Provider.TryGetPipeline("prices", out var untyped));
        Assert.Null(untyped);
        Assert.False(container.Provider.TryGetPipeline<string>("prices", out var mistyped));
        Assert.Null(mistyped);
        Assert.False(container.Provider.TryGetPipeline<int>("orders", out _));
        Assert.False(container.Provider.TryGetPipeline<int>("missing", out _));
    }

    [Fact]
    public void Registering_a_name_twice_fails_at_once()
    {
        var services = new ServiceCollection().AddResiliencePipeline("orders", (_, _) => { });

        Assert.Throws<ArgumentException>(() => services.AddResiliencePipeline<int>("orders", (_, _) => { }));
        services.AddResilience().AddCircuitBreaker("payments");
        Assert.Throws<ArgumentException>(() => services.AddResilience().AddCircuitBreaker("Payments"));
    }

    [Fact]
    public void A_shared_breaker_opened_through_one_pipeline_rejects_calls_of_the_other()
    {
        using var container = new TestContainer(NoSettings, services =>
        {
            services.AddResilience().AddCircuitBreaker("payments", o => { o.MinimumThroughput = 2; o.BreakDuration = TimeSpan.FromSeconds(30); });
            services.AddResiliencePipeline("checkout", (builder, context) => builder.AddCircuitBreaker(context.GetCircuitBreaker("payments")));
            services.AddResiliencePipeline("refunds", (builder, context) => builder.AddCircuitBreaker(context.GetCircuitBreaker("payments")));
        });
        var checkout = container.Provider.GetPipeline("checkout");
        var refunds = container.Provider.GetPipeline("refunds");

        for (var i = 0; i < 2; i++)
        {
            Assert.Throws<IOException>(() => checkout.Execute<int>(static _ => throw new IOException()));
        }

        var rejected = Assert.Throws<BrokenCircuitException>(() => refunds.Execute(static _ => 1));
        Assert.Equal(("refunds", "payments"), (rejected.PipelineName, rejected.StrategyName));
        Assert.Same(container.Provider.GetCircuitBreaker("payments"), ((CircuitBreakerStrategy)refunds.Strategies[1]).Breaker);

        // The break runs on the container's clock.
        container.Time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(1, refunds.Execute(static _ => 1));
        Assert.Equal(CircuitState.Closed, container.Provider.GetCircuitBreaker("payments").State);
    }

    [Fact]
    public void A_shared_retry_budget_limits_retries_across_pipelines()
    {
        using var container = new TestContainer(NoSettings, services =>
        {
            services.AddResilience().AddRetryBudget("backend", o => o.MaxTokens = 4);
            foreach (var name in new[] { "a", "b" })
            {
                services.AddResiliencePipeline(name, (builder, context) => builder.AddStrategy(context.BindRetry(configure: o =>
                {
                    o.Budget = context.GetRetryBudget("backend");
                    o.Delay = TimeSpan.Zero;
                    o.UseJitter = false;
                })));
            }
        });
        var attempts = 0;

        Assert.Throws<IOException>(() => container.Provider.GetPipeline("a").Execute<int>(_ => { attempts++; throw new IOException(); }));
        Assert.Throws<IOException>(() => container.Provider.GetPipeline("b").Execute<int>(_ => { attempts++; throw new IOException(); }));

        // Four tokens, retries only above two: "a" fails twice (4 -> 3 -> 2) and stops; "b" finds the budget spent
        // and does not retry at all.
        Assert.Equal(3, attempts);
        Assert.Equal(1, container.Provider.GetRetryBudget("backend").Balance);
    }

    [Fact]
    public void Pipelines_report_to_the_meter_of_the_container_factory()
    {
        using var container = new TestContainer(NoSettings, services => services.AddResiliencePipeline("orders", (_, _) => { }));
        var factory = container.Services.GetRequiredService<IMeterFactory>();
        using var calls = new MetricCollector<long>(factory, ResilienceTelemetry.MeterName, "resilience.pipeline.calls");

        container.Provider.GetPipeline("orders").Execute(static _ => 1);

        Assert.Equal(("orders", "success"), ((string)calls.LastMeasurement!.Tags["pipeline"]!, (string)calls.LastMeasurement.Tags["outcome"]!));
    }

    [Fact]
    public void Health_lists_pipelines_breakers_with_their_windows_limiters_and_budgets()
    {
        using var container = new TestContainer(
            new Dictionary<string, string?>
            {
                ["Resilience:Pipelines:search:Strategies:0"] = "ConcurrencyLimiter",
                ["Resilience:Pipelines:search:ConcurrencyLimiter:PermitLimit"] = "4",
            },
            services =>
            {
                services.AddResilience().AddCircuitBreaker("payments").AddRetryBudget("backend");
                services.AddResiliencePipeline("checkout", (builder, context) => builder
                    .AddCircuitBreaker(context.GetCircuitBreaker("payments"))
                    .AddCircuitBreaker(new CircuitBreakerOptions { Name = "ledger", TimeProvider = context.TimeProvider }));
            });
        var checkout = container.Provider.GetPipeline("checkout");
        Assert.Throws<IOException>(() => checkout.Execute<int>(static _ => throw new IOException()));
        container.Provider.GetCircuitBreaker("payments").Isolate();

        var health = container.Provider.GetHealth();

        Assert.Equal(["checkout", "search"], health.Pipelines.Select(p => p.Name));
        Assert.Equal(["Telemetry", "payments", "ledger"], health.Pipelines[0].Strategies);
        Assert.Equal(["payments", "ledger"], health.Pipelines[0].CircuitBreakers);
        Assert.True(health.Pipelines[1].IsConfigured);
        Assert.Equal(["ledger", "payments"], health.CircuitBreakers.Select(b => b.Name));
        Assert.Equal((CircuitState.Closed, 1L, 1L), (health.CircuitBreakers[0].State, health.CircuitBreakers[0].Window.Calls, health.CircuitBreakers[0].Window.Failures));
        Assert.Equal(CircuitState.Isolated, health.CircuitBreakers[1].State);
        Assert.Equal(("search/ConcurrencyLimiter", 4L), (health.RateLimiters.Single().Name, health.RateLimiters.Single().AvailablePermits));
        Assert.Equal(("backend", 10d), (health.RetryBudgets.Single().Name, health.RetryBudgets.Single().Balance));
        Assert.False(health.IsHealthy);
    }

    [Fact]
    public void Rejected_options_pushed_by_code_leave_health_as_it_was_while_a_rejected_configuration_makes_it_unhealthy()
    {
        using var container = new TestContainer(new Dictionary<string, string?>
        {
            ["Resilience:Pipelines:orders:Strategies:0"] = "CircuitBreaker",
            ["Resilience:Pipelines:orders:CircuitBreaker:FailureRatio"] = "0.5",
        });

        // A bad push (an admin endpoint's typo) changes nothing: the settings in force are the configuration's, all valid.
        var push = container.Provider.UpdateOptions("Pipelines:orders:CircuitBreaker", new CircuitBreakerOptions { FailureRatio = 3 });

        Assert.False(push.IsApplied);
        var afterPush = container.Provider.GetHealth();
        Assert.Same(push, afterPush.LastReload);
        Assert.True(afterPush.IsHealthy);

        // A configuration that is not in force is what health reports; a push rejected meanwhile does not hide it.
        container.Change(("Resilience:Pipelines:orders:CircuitBreaker:FailureRatio", "2"));
        Assert.False(container.Provider.GetHealth().IsHealthy);
        Assert.False(container.Provider.UpdateOptions("Pipelines:orders:CircuitBreaker", new CircuitBreakerOptions { FailureRatio = 0.4, MinimumThroughput = 0 }).IsApplied);
        Assert.False(container.Provider.GetHealth().IsHealthy);

        // A push that applies was checked with the whole configuration: the settings are in force again.
        Assert.True(container.Provider.UpdateOptions("Pipelines:orders:CircuitBreaker", new CircuitBreakerOptions { FailureRatio = 0.4 }).IsApplied);
        Assert.True(container.Provider.GetHealth().IsHealthy);
    }

    [Fact]
    public void An_open_breaker_whose_break_has_passed_is_healthy_since_its_next_call_is_a_probe()
    {
        using var container = new TestContainer(NoSettings, services => services.AddResilience()
            .AddCircuitBreaker("payments", o => { o.MinimumThroughput = 1; o.BreakDuration = TimeSpan.FromSeconds(30); }));
        var breaker = container.Provider.GetCircuitBreaker("payments");
        Assert.True(breaker.TryAcquire(out var permit));
        breaker.Record(permit, CircuitCallResult.Failure);
        container.Time.Advance(TimeSpan.FromSeconds(10));

        var open = container.Provider.GetHealth();
        Assert.Equal((CircuitState.Open, TimeSpan.FromSeconds(20)), (open.CircuitBreakers[0].State, open.CircuitBreakers[0].RetryAfter));
        Assert.False(open.IsHealthy);

        // No call has come to move it to half-open (an instance taken out of service for being unhealthy gets none):
        // it still reads Open, but lets the next call through.
        container.Time.Advance(TimeSpan.FromSeconds(20));
        var passed = container.Provider.GetHealth();
        Assert.Equal((CircuitState.Open, TimeSpan.Zero), (passed.CircuitBreakers[0].State, passed.CircuitBreakers[0].RetryAfter));
        Assert.True(passed.IsHealthy);

        breaker.Isolate();
        var isolated = container.Provider.GetHealth();
        Assert.Equal((CircuitState.Isolated, (TimeSpan?)null), (isolated.CircuitBreakers[0].State, isolated.CircuitBreakers[0].RetryAfter));
        Assert.False(isolated.IsHealthy);
    }

    [Fact]
    public void A_disposed_provider_applies_no_change()
    {
        var container = new TestContainer(new Dictionary<string, string?>
        {
            ["Resilience:Pipelines:orders:Strategies:0"] = "Timeout",
            ["Resilience:Pipelines:orders:Timeout:Timeout"] = "00:00:05",
        });
        var provider = container.Provider;
        var timeout = (TimeoutStrategy)provider.GetPipeline("orders").Strategies[1];
        container.Dispose();

        // A new limiter would be created and tracked by the telemetry of a container that is gone.
        container.Configuration["Resilience:Pipelines:orders:Strategies:1"] = "ConcurrencyLimiter";
        container.Configuration["Resilience:Pipelines:orders:Timeout:Timeout"] = "00:00:01";

        Assert.Throws<ObjectDisposedException>(() => provider.Reload());
        Assert.Throws<ObjectDisposedException>(() => provider.UpdateOptions("Pipelines:orders:Timeout", new TimeoutOptions { Timeout = TimeSpan.FromSeconds(2) }));
        Assert.Equal(TimeSpan.FromSeconds(5), timeout.Timeout);
        Assert.Equal(["Telemetry", "orders/Timeout"], provider.GetPipeline("orders").Strategies.Select(s => s.Name));
        Assert.Null(provider.LastReload);
    }

    [Fact]
    public async Task Disposing_the_provider_disposes_the_limiters_it_created_and_fails_their_waiters()
    {
        var container = new TestContainer(new Dictionary<string, string?>
        {
            ["Resilience:ConcurrencyLimiters:db:PermitLimit"] = "1",
            ["Resilience:ConcurrencyLimiters:db:QueueLimit"] = "1",
            ["Resilience:ConcurrencyLimiters:db:QueueTimeout"] = "00:00:30",
            ["Resilience:Pipelines:orders:Strategies:0"] = "TokenBucket",
            ["Resilience:Pipelines:orders:TokenBucket:Burst"] = "1",
            ["Resilience:Pipelines:orders:TokenBucket:PermitsPerSecond"] = "0.1",
            ["Resilience:Pipelines:orders:TokenBucket:MaxWait"] = "00:01:00",
        });
        var limiter = container.Provider.GetConcurrencyLimiter("db");
        var bucket = (TokenBucketLimiter)((RateLimiterStrategy)container.Provider.GetPipeline("orders").Strategies[1]).Limiter;
        using var held = await limiter.AcquireAsync();
        using var token = await bucket.AcquireAsync();
        var waiting = limiter.AcquireAsync().AsTask();
        var refill = bucket.AcquireAsync().AsTask();
        Assert.False(waiting.IsCompleted || refill.IsCompleted);

        container.Dispose();

        // The waiters stayed queued, their timers set, after the container was gone: a shutdown waited on them. The
        // bucket fails its waiter through a cancellation, which may complete on another thread: the wait is bounded.
        Assert.True(waiting.IsCompleted);
        Assert.False((await waiting).IsAcquired);
        Assert.False((await refill.WaitAsync(TimeSpan.FromSeconds(10))).IsAcquired);
        Assert.Throws<ObjectDisposedException>(() => limiter.AttemptAcquire());
    }

    [Fact]
    public async Task Disposing_the_provider_also_fails_the_waiters_of_a_limiter_a_reload_took_out_of_service()
    {
        var container = new TestContainer(new Dictionary<string, string?>
        {
            ["Resilience:Pipelines:orders:Strategies:0"] = "ConcurrencyLimiter",
            ["Resilience:Pipelines:orders:Strategies:1"] = "Timeout",
            ["Resilience:Pipelines:orders:ConcurrencyLimiter:PermitLimit"] = "1",
            ["Resilience:Pipelines:orders:ConcurrencyLimiter:QueueLimit"] = "1",
        });
        var limiter = (InFlightLimiter)((RateLimiterStrategy)container.Provider.GetPipeline("orders").Strategies[1]).Limiter;
        using var held = limiter.AttemptAcquire();
        var waiting = limiter.AcquireAsync().AsTask();

        // The limiter leaves the pipeline; its waiter stays queued for calls in flight to finish.
        container.Change(("Resilience:Pipelines:orders:Strategies:0", "Timeout"), ("Resilience:Pipelines:orders:Strategies:1", null), ("Resilience:Pipelines:orders:ConcurrencyLimiter:PermitLimit", null), ("Resilience:Pipelines:orders:ConcurrencyLimiter:QueueLimit", null));
        Assert.True(container.Provider.LastReload!.IsApplied, container.Provider.LastReload.ToString());
        Assert.False(waiting.IsCompleted);

        container.Dispose();

        Assert.True(waiting.IsCompleted);
        Assert.False((await waiting).IsAcquired);

        // The runtime holds a retired limiter weakly: the test keeps it reachable until the disposal.
        GC.KeepAlive(limiter);
    }

    [Fact]
    public void Limiters_created_by_pipelines_code_are_named_in_health_as_in_telemetry()
    {
        using var container = new TestContainer(NoSettings, services =>
        {
            services.AddResiliencePipeline("checkout", (builder, _) => builder.AddConcurrencyLimiter(new InFlightLimiterOptions { PermitLimit = 2 }));
            services.AddResiliencePipeline("refunds", (builder, _) => builder.AddConcurrencyLimiter(new InFlightLimiterOptions { PermitLimit = 3 }));
        });
        using var permits = new MetricCollector<long>(container.Telemetry.Meter, "resilience.rate_limiter.permits_available");
        _ = container.Provider.GetPipeline("checkout");

        var health = container.Provider.GetHealth();
        permits.RecordObservableInstruments();

        // Both limiters have the same strategy name; the pipeline's name tells them apart, in health as in metrics.
        Assert.Equal([("checkout/InFlightLimiter", 2L), ("refunds/InFlightLimiter", 3L)], health.RateLimiters.Select(l => (l.Name, l.AvailablePermits)));
        Assert.Equal(["checkout/InFlightLimiter", "refunds/InFlightLimiter"], permits.GetMeasurementSnapshot().Select(m => (string)m.Tags["strategy"]!).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Unnamed_breakers_created_by_pipelines_code_are_told_apart_by_pipeline_in_health_and_telemetry()
    {
        using var container = new TestContainer(NoSettings, services =>
        {
            services.AddResiliencePipeline("checkout", (builder, _) => builder.AddCircuitBreaker(new CircuitBreakerOptions()));
            services.AddResiliencePipeline("refunds", (builder, _) => builder
                .AddCircuitBreaker(new CircuitBreakerOptions())
                .AddCircuitBreaker(new CircuitBreakerOptions { Name = "ledger" }));
        });
        using var states = new MetricCollector<int>(container.Telemetry.Meter, "resilience.circuit_breaker.state");
        container.Provider.GetPipeline("refunds").Strategies.OfType<CircuitBreakerStrategy>().First().Breaker.Isolate();

        var health = container.Provider.GetHealth();
        states.RecordObservableInstruments();

        // Both were "CircuitBreaker": two entries of one name in health, and one series in metrics for two breakers.
        Assert.Equal(
            [("checkout/CircuitBreaker", CircuitState.Closed), ("ledger", CircuitState.Closed), ("refunds/CircuitBreaker", CircuitState.Isolated)],
            health.CircuitBreakers.Select(b => (b.Name, b.State)));
        Assert.Equal(["checkout/CircuitBreaker"], health.Pipelines[0].CircuitBreakers);
        Assert.Equal(["refunds/CircuitBreaker", "ledger"], health.Pipelines[1].CircuitBreakers);
        Assert.Equal(
            [("checkout/CircuitBreaker", 0), ("ledger", 0), ("refunds/CircuitBreaker", 3)],
            states.GetMeasurementSnapshot().Select(m => ((string)m.Tags["strategy"]!, m.Value)).OrderBy(pair => pair.Item1, StringComparer.Ordinal));
    }

    [Fact]
    public void Invalid_settings_fail_the_start_check_with_every_message()
    {
        using var container = new TestContainer(new Dictionary<string, string?>
        {
            ["Resilience:CircuitBreakers:payments:FailureRatio"] = "1.5",
            ["Resilience:Pipelines:orders:Timeout:Timeout"] = "00:00:00",
        }, services => services.AddResiliencePipeline("orders", (builder, context) => builder.AddStrategy(context.BindTimeout())));

        var startup = Assert.Throws<OptionsValidationException>(() => container.Services.GetRequiredService<IStartupValidator>().Validate());
        var resolve = Assert.Throws<OptionsValidationException>(() => container.Provider);

        // The section the pipeline's code binds is checked too, though the shared breaker already fails the start.
        string[] both =
        [
            "Resilience:CircuitBreakers:payments:FailureRatio must be in (0, 1]; was 1.5.",
            "Resilience:Pipelines:orders:Timeout:Timeout must be in [00:00:00.0010000, 1.00:00:00]; was 00:00:00.",
        ];
        Assert.Equal(both, startup.Failures);
        Assert.Equal(both, resolve.Failures);

        // Once the shared breaker is fixed, the pipeline's own section is what remains.
        container.Configuration["Resilience:CircuitBreakers:payments:FailureRatio"] = "0.5";
        var bound = Assert.Throws<OptionsValidationException>(() => container.Provider);
        Assert.Equal(["Resilience:Pipelines:orders:Timeout:Timeout must be in [00:00:00.0010000, 1.00:00:00]; was 00:00:00."], bound.Failures);
    }
}
