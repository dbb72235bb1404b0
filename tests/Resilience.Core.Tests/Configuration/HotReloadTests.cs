using System.Threading.RateLimiting;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Resilience.Tests.DependencyInjection;
using Resilience.Tests.Telemetry;

namespace Resilience.Tests.Configuration;

public class HotReloadTests
{
    private const string Breaker = "Resilience:Pipelines:orders:CircuitBreaker:";
    private const string Limiter = "Resilience:Pipelines:orders:ConcurrencyLimiter:";
    private const string Bucket = "Resilience:Pipelines:orders:TokenBucket:";
    private const string Timeout = "Resilience:Pipelines:orders:Timeout:";
    private const string Retry = "Resilience:Pipelines:orders:Retry:";

    private static Dictionary<string, string?> Orders() => new()
    {
        ["Resilience:Pipelines:orders:Strategies:0"] = "Retry",
        ["Resilience:Pipelines:orders:Strategies:1"] = "CircuitBreaker",
        ["Resilience:Pipelines:orders:Strategies:2"] = "ConcurrencyLimiter",
        ["Resilience:Pipelines:orders:Strategies:3"] = "TokenBucket",
        ["Resilience:Pipelines:orders:Strategies:4"] = "Timeout",
        [Retry + "MaxRetryAttempts"] = "0",
        [Breaker + "MinimumThroughput"] = "2",
        [Breaker + "BreakDuration"] = "00:01:00",
        [Limiter + "PermitLimit"] = "2",
        [Bucket + "PermitsPerSecond"] = "1",
        [Bucket + "Burst"] = "10",
        [Timeout + "Timeout"] = "00:00:10",
        ["Resilience:RetryBudgets:backend:MaxTokens"] = "10",
    };

    private static Resilience.CircuitBreaker BreakerOf(ResiliencePipeline pipeline) => ((CircuitBreakerStrategy)pipeline.Strategies.Single(s => s is CircuitBreakerStrategy)).Breaker;

    private static T Strategy<T>(ResiliencePipeline pipeline) => pipeline.Strategies.OfType<T>().Single();

    private static void Fail(ResiliencePipeline pipeline, int times)
    {
        for (var i = 0; i < times; i++)
        {
            pipeline.ExecuteOutcome<int, int>(static (_, _) => throw new IOException(), 0);
        }
    }

    [Fact]
    public void An_open_breaker_takes_new_thresholds_in_place_and_stays_open()
    {
        using var container = new TestContainer(Orders());
        var pipeline = container.Provider.GetPipeline("orders");
        var breaker = BreakerOf(pipeline);
        Fail(pipeline, 2);
        var before = breaker.GetSnapshot();

        container.Change((Breaker + "FailureRatio", "0.9"), (Breaker + "BreakDuration", "00:05:00"));

        Assert.Same(breaker, BreakerOf(container.Provider.GetPipeline("orders")));
        Assert.Equal((CircuitState.Open, before.Generation), (breaker.State, breaker.GetSnapshot().Generation));
        Assert.Equal((0.9, TimeSpan.FromMinutes(5)), (breaker.Options.FailureRatio, breaker.Options.BreakDuration));
        Assert.Equal((true, 1, 0), (container.Provider.LastReload!.IsApplied, container.Provider.LastReload.UpdatedStrategies, container.Provider.LastReload.RebuiltPipelines));

        // The break already running keeps its end; the next one uses the new duration.
        container.Time.Advance(TimeSpan.FromMinutes(1));
        Assert.True(pipeline.ExecuteOutcome(static (_, _) => 1, 0).IsSuccess);
    }

    [Fact]
    public void A_closed_breaker_keeps_its_window_through_a_change_of_thresholds()
    {
        using var container = new TestContainer(Orders());
        var pipeline = container.Provider.GetPipeline("orders");
        var breaker = BreakerOf(pipeline);
        for (var i = 0; i < 3; i++)
        {
            pipeline.Execute(static _ => 1);
        }

        Fail(pipeline, 1);
        container.Change((Breaker + "MinimumThroughput", "6"));

        Assert.Equal((4L, 1L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
        Fail(pipeline, 1);
        Assert.Equal(CircuitState.Closed, breaker.State);
        Fail(pipeline, 1);
        Assert.Equal(CircuitState.Open, breaker.State);
    }

    [Fact]
    public async Task Limiter_permits_in_flight_and_tokens_survive_a_change_of_limits()
    {
        using var container = new TestContainer(Orders());
        var pipeline = container.Provider.GetPipeline("orders");
        var inFlight = (InFlightLimiter)((RateLimiterStrategy)pipeline.Strategies[3]).Limiter;
        var bucket = (TokenBucketLimiter)((RateLimiterStrategy)pipeline.Strategies[4]).Limiter;
        var release = new TaskCompletionSource();
        var held = Enumerable.Range(0, 2).Select(_ => pipeline.ExecuteAsync(async _ => await release.Task).AsTask()).ToList();
        Assert.True(pipeline.ExecuteOutcome(static (_, _) => 1, 0).IsRejected);

        container.Change((Limiter + "PermitLimit", "3"), (Bucket + "Burst", "20"), (Bucket + "PermitsPerSecond", "2"));

        Assert.Same(inFlight, ((RateLimiterStrategy)container.Provider.GetPipeline("orders").Strategies[3]).Limiter);
        Assert.Equal(1, inFlight.GetStatistics()!.CurrentAvailablePermits);
        Assert.Equal(8, bucket.GetStatistics()!.CurrentAvailablePermits);
        Assert.True(pipeline.ExecuteOutcome(static (_, _) => 1, 0).IsSuccess);
        release.SetResult();
        await Task.WhenAll(held);
        Assert.Equal(3, inFlight.GetStatistics()!.CurrentAvailablePermits);
    }

    [Fact]
    public async Task Reloads_that_change_limits_and_reorder_strategies_during_calls_lose_no_permit_and_keep_the_breaker()
    {
        using var container = new TestContainer(new Dictionary<string, string?>
        {
            ["Resilience:Pipelines:orders:Strategies:0"] = "ConcurrencyLimiter",
            ["Resilience:Pipelines:orders:Strategies:1"] = "CircuitBreaker",
            [Limiter + "PermitLimit"] = "4",
            [Breaker + "MinimumThroughput"] = "1000000",
        });
        using var reloads = container.Reloads();
        var pipeline = container.Provider.GetPipeline("orders");
        var breaker = BreakerOf(pipeline);
        var limiter = (InFlightLimiter)pipeline.Strategies.OfType<RateLimiterStrategy>().Single().Limiter;
        const int Changes = 200;
        var changed = 0;
        var unexpected = 0;

        // Real threads: callers run while a changer alternates the limit and the order of the two strategies.
        var callers = Enumerable.Range(0, 3).Select(_ => Task.Factory.StartNew(
            () =>
            {
                for (var i = 0; i < 100_000 && (Volatile.Read(ref changed) == 0 || i < 2_000); i++)
                {
                    var outcome = pipeline.ExecuteOutcome(static (_, _) => 1, 0);
                    if (!(outcome.IsSuccess || outcome.IsRejected))
                    {
                        Interlocked.Increment(ref unexpected);
                    }
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default)).ToList();
        await Task.Factory.StartNew(
            () =>
            {
                for (var i = 0; i < Changes; i++)
                {
                    var limiterFirst = i % 4 < 2;
                    container.Change(
                        ("Resilience:Pipelines:orders:Strategies:0", limiterFirst ? "ConcurrencyLimiter" : "CircuitBreaker"),
                        ("Resilience:Pipelines:orders:Strategies:1", limiterFirst ? "CircuitBreaker" : "ConcurrencyLimiter"),
                        (Limiter + "PermitLimit", (2 + (i % 3)).ToString(System.Globalization.CultureInfo.InvariantCulture)));
                }

                Volatile.Write(ref changed, 1);
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
        await Task.WhenAll(callers);

        Assert.Equal(0, unexpected);
        Assert.Equal(Changes, reloads.GetMeasurementSnapshot().Count(m => (string)m.Tags["result"]! == "applied"));
        Assert.Same(breaker, BreakerOf(pipeline));
        Assert.Same(limiter, pipeline.Strategies.OfType<RateLimiterStrategy>().Single().Limiter);
        Assert.Equal(limiter.Options.PermitLimit, limiter.GetStatistics()!.CurrentAvailablePermits);
        Assert.True(breaker.GetSnapshot().Calls > 0);
    }

    [Fact]
    public void Timeouts_retries_and_budgets_take_new_settings_in_place()
    {
        using var container = new TestContainer(Orders());
        var pipeline = container.Provider.GetPipeline("orders");
        var timeout = Strategy<TimeoutStrategy>(pipeline);
        var retry = Strategy<RetryStrategy>(pipeline);
        var budget = container.Provider.GetRetryBudget("backend");
        budget.RecordFailure();

        container.Change((Timeout + "Timeout", "00:00:03"), (Retry + "MaxRetryAttempts", "4"), ("Resilience:RetryBudgets:backend:MaxTokens", "5"));

        Assert.Equal(TimeSpan.FromSeconds(3), timeout.Timeout);
        Assert.Equal(4, retry.Options.MaxRetryAttempts);
        Assert.Same(budget, container.Provider.GetRetryBudget("backend"));
        Assert.Equal(5, budget.Balance);
        Assert.Same(timeout, Strategy<TimeoutStrategy>(pipeline));
    }

    [Fact]
    public void An_invalid_change_is_rejected_as_a_whole_logged_and_counted_and_the_next_good_one_applies()
    {
        using var container = new TestContainer(Orders());
        using var reloads = container.Reloads();
        var pipeline = container.Provider.GetPipeline("orders");
        var breaker = BreakerOf(pipeline);
        var timeout = Strategy<TimeoutStrategy>(pipeline);

        // A valid breaker change and an invalid timeout in one change: neither applies.
        container.Change((Breaker + "FailureRatio", "0.8"), (Timeout + "Timeout", "-00:00:01"));

        Assert.Equal(0.5, breaker.Options.FailureRatio);
        Assert.Equal(TimeSpan.FromSeconds(10), timeout.Timeout);
        var rejected = container.Provider.LastReload!;
        Assert.False(rejected.IsApplied);
        Assert.Equal(["Resilience:Pipelines:orders:Timeout:Timeout must be in [00:00:00.0010000, 1.00:00:00]; was -00:00:01."], rejected.Errors);
        Assert.Equal("rejected", reloads.LastMeasurement!.Tags["result"]);
        var log = container.Logs.Collector.LatestRecord;
        Assert.Equal((LogLevel.Error, "ReloadRejected"), (log.Level, log.Id.Name));
        Assert.Contains("Timeout:Timeout must be in", log.Message, StringComparison.Ordinal);
        Assert.False(container.Provider.GetHealth().IsHealthy);
        Assert.True(pipeline.ExecuteOutcome(static (_, _) => 1, 0).IsSuccess);

        container.Change((Timeout + "Timeout", "00:00:02"));

        Assert.Equal((0.8, TimeSpan.FromSeconds(2)), (breaker.Options.FailureRatio, timeout.Timeout));
        Assert.Equal(["rejected", "applied"], reloads.GetMeasurementSnapshot().Select(m => (string)m.Tags["result"]!));
    }

    [Fact]
    public void A_change_that_empties_the_whole_section_is_rejected()
    {
        var settings = Orders();
        using var container = new TestContainer(settings);
        var breaker = BreakerOf(container.Provider.GetPipeline("orders"));

        container.Change([.. settings.Keys.Select(key => (key, (string?)null))]);

        Assert.False(container.Provider.LastReload!.IsApplied);
        Assert.StartsWith("Resilience is empty or missing", container.Provider.LastReload.Errors.Single(), StringComparison.Ordinal);
        Assert.Same(breaker, BreakerOf(container.Provider.GetPipeline("orders")));
        Assert.Equal(2, breaker.Options.MinimumThroughput);
    }

    [Fact]
    public void A_change_that_empties_the_section_is_rejected_also_when_the_settings_came_after_start()
    {
        using var container = new TestContainer(new Dictionary<string, string?>(), services => services.AddResiliencePipeline("orders", (builder, context) => builder
            .AddCircuitBreaker(context.BindCircuitBreaker())));
        var breaker = BreakerOf(container.Provider.GetPipeline("orders"));
        container.Change((Breaker + "SlowCallDuration", "00:00:02"));
        Assert.Equal(TimeSpan.FromSeconds(2), breaker.Options.SlowCallDuration);

        container.Change((Breaker + "SlowCallDuration", null));

        Assert.False(container.Provider.LastReload!.IsApplied);
        Assert.StartsWith("Resilience is empty or missing", container.Provider.LastReload.Errors.Single(), StringComparison.Ordinal);
        Assert.Equal(TimeSpan.FromSeconds(2), breaker.Options.SlowCallDuration);
    }

    [Fact]
    public void A_change_of_an_option_fixed_at_creation_is_rejected_instead_of_reported_applied()
    {
        var settings = Orders();
        settings[Breaker + "JitterSeed"] = "1";
        using var container = new TestContainer(settings);
        var breaker = BreakerOf(container.Provider.GetPipeline("orders"));

        // The breaker draws its jitter from a generator seeded when it was created: a new seed would not reach it.
        container.Change((Breaker + "JitterSeed", "2"), (Breaker + "FailureRatio", "0.7"));

        Assert.Equal(
            ["Resilience:Pipelines:orders:CircuitBreaker:JitterSeed is fixed when the CircuitBreaker is created; it cannot change from 1 to 2 on a live one (restart to change it)."],
            container.Provider.LastReload!.Errors);
        Assert.Equal((1, 0.5), (breaker.Options.JitterSeed, breaker.Options.FailureRatio));
    }

    [Fact]
    public void Code_options_that_throw_on_a_reload_reject_it_instead_of_escaping_to_the_watcher()
    {
        var broken = false;
        using var container = new TestContainer(Orders(), services => services.AddResilience().AddCircuitBreaker("payments", o =>
        {
            o.MinimumThroughput = broken ? throw new InvalidCastException("no such setting") : 5;
        }));
        var payments = container.Provider.GetCircuitBreaker("payments");
        broken = true;

        container.Change(("Resilience:CircuitBreakers:payments:FailureRatio", "0.2"));

        Assert.Equal(["Reading the settings failed: InvalidCastException: no such setting"], container.Provider.LastReload!.Errors);
        Assert.Equal((5, 0.5), (payments.Options.MinimumThroughput, payments.Options.FailureRatio));
    }

    [Fact]
    public async Task A_change_signalled_while_the_provider_starts_is_applied()
    {
        Task? racing = null;
        using var container = new TestContainer(
            new Dictionary<string, string?> { [Timeout + "Timeout"] = "00:00:10" },
            services => services.AddResiliencePipeline("orders", (builder, context) =>
            {
                builder.AddStrategy(context.BindTimeout());

                // Another thread changes the configuration once the settings are read, before the provider is up.
                var configuration = (IConfigurationRoot)context.ServiceProvider.GetRequiredService<IConfiguration>();
                var token = configuration.GetReloadToken();
                racing = Task.Run(() =>
                {
                    configuration[Timeout + "Timeout"] = "00:00:07";
                    configuration.Reload();
                });
                Assert.True(SpinWait.SpinUntil(() => token.HasChanged, TimeSpan.FromSeconds(10)));
            }));
        var timeout = Strategy<TimeoutStrategy>(container.Provider.GetPipeline("orders"));

        await racing!;

        Assert.Equal(TimeSpan.FromSeconds(7), timeout.Timeout);
        Assert.True(container.Provider.LastReload?.IsApplied);
    }

    [Fact]
    public void Reload_reads_a_change_that_was_not_signalled()
    {
        using var container = new TestContainer(Orders());
        var timeout = Strategy<TimeoutStrategy>(container.Provider.GetPipeline("orders"));
        container.Configuration[Timeout + "Timeout"] = "00:00:07";

        Assert.Equal(TimeSpan.FromSeconds(10), timeout.Timeout);
        var result = container.Provider.Reload();

        Assert.Equal(("reload", true, 1), (result.Source, result.IsApplied, result.UpdatedStrategies));
        Assert.Equal(TimeSpan.FromSeconds(7), timeout.Timeout);
    }

    [Fact]
    public void A_duplicate_change_notification_is_read_once()
    {
        using var container = new TestContainer(Orders());
        using var reloads = container.Reloads();
        _ = container.Provider;

        container.Change((Breaker + "FailureRatio", "0.7"));
        container.Configuration.Reload();

        Assert.Single(reloads.GetMeasurementSnapshot());
    }

    [Fact]
    public void A_change_outside_the_resilience_section_is_no_reload()
    {
        using var container = new TestContainer(Orders());
        using var reloads = container.Reloads();
        _ = container.Provider;

        // The reload token is the whole configuration's: a change of log levels signals it too.
        container.Change(("Logging:LogLevel:Default", "Debug"));
        container.Change(("Logging:LogLevel:Default", "Warning"));

        Assert.Empty(reloads.GetMeasurementSnapshot());
        Assert.Null(container.Provider.LastReload);
        Assert.DoesNotContain(container.Logs.Collector.GetSnapshot(), record => record.Id.Name == "ReloadApplied");
    }

    [Fact]
    public void Reordering_or_adding_strategies_rebuilds_the_same_pipeline_instance_and_keeps_the_breaker()
    {
        using var container = new TestContainer(Orders());
        var pipeline = container.Provider.GetPipeline("orders");
        var typed = container.Provider.GetPipeline<int>("orders");
        var breaker = BreakerOf(pipeline);
        Fail(pipeline, 2);

        container.Change(
            ("Resilience:Pipelines:orders:Strategies:0", "Timeout"),
            ("Resilience:Pipelines:orders:Strategies:4", "Retry"),
            ("Resilience:Pipelines:orders:Strategies:5", "Hedge"),
            ("Resilience:Pipelines:orders:Hedge:Type", "Timeout"),
            ("Resilience:Pipelines:orders:Hedge:Timeout", "00:00:01"));

        Assert.Same(pipeline, container.Provider.GetPipeline("orders"));
        Assert.Equal(
            ["Telemetry", "orders/Timeout", "orders/CircuitBreaker", "orders/ConcurrencyLimiter", "orders/TokenBucket", "orders/Retry", "orders/Hedge"],
            pipeline.Strategies.Select(s => s.Name));
        Assert.Same(breaker, BreakerOf(pipeline));
        Assert.Same(breaker, ((CircuitBreakerStrategy)typed.Strategies[2]).Breaker);
        Assert.True(pipeline.ExecuteOutcome(static (_, _) => 1, 0).IsRejected);
        Assert.Equal(1, container.Provider.LastReload!.RebuiltPipelines);
    }

    [Fact]
    public void A_removed_strategy_leaves_service_and_a_retyped_section_gets_a_new_instance()
    {
        using var container = new TestContainer(new Dictionary<string, string?>
        {
            ["Resilience:Pipelines:orders:Strategies:0"] = "Guard",
            ["Resilience:Pipelines:orders:Strategies:1"] = "Timeout",
            ["Resilience:Pipelines:orders:Guard:Type"] = "CircuitBreaker",
            ["Resilience:Pipelines:orders:Timeout:Timeout"] = "00:00:01",
        });
        var pipeline = container.Provider.GetPipeline("orders");

        var breaker = BreakerOf(pipeline);

        // The timeout's section is emptied and no longer listed; the breaker's section becomes a limiter.
        container.Change(
            ("Resilience:Pipelines:orders:Strategies:1", "Guard"),
            ("Resilience:Pipelines:orders:Strategies:0", "Limit"),
            ("Resilience:Pipelines:orders:Limit:Type", "Timeout"),
            ("Resilience:Pipelines:orders:Guard:Type", "ConcurrencyLimiter"),
            ("Resilience:Pipelines:orders:Timeout:Timeout", null));

        Assert.Equal(["Telemetry", "orders/Limit", "orders/Guard"], pipeline.Strategies.Select(s => s.Name));
        Assert.IsType<InFlightLimiter>(Assert.IsType<RateLimiterStrategy>(pipeline.Strategies[2]).Limiter);
        Assert.Equal(CircuitState.Closed, breaker.State);
        var health = container.Provider.GetHealth();
        Assert.Empty(health.CircuitBreakers);
        Assert.Equal("orders/Guard", health.RateLimiters.Single().Name);
    }

    [Fact]
    public void A_logger_that_throws_while_a_reload_is_reported_neither_undoes_nor_hides_the_reload()
    {
        using var container = new TestContainer(Orders(), services => services.AddLogging(builder => builder.AddProvider(new ThrowingLoggerProvider())));
        using var reloads = container.Reloads();
        var breaker = BreakerOf(container.Provider.GetPipeline("orders"));

        // Applied or rejected, the result is returned and recorded: the logger's fault is not the reload's.
        var applied = container.Provider.UpdateOptions("Pipelines:orders:CircuitBreaker", new CircuitBreakerOptions { FailureRatio = 0.3 });
        Assert.Same(applied, container.Provider.LastReload);
        var rejected = container.Provider.UpdateOptions("Pipelines:orders:CircuitBreaker", new CircuitBreakerOptions { FailureRatio = 3 });
        Assert.Same(rejected, container.Provider.LastReload);

        // A configuration change reaches its reload through the configuration's change callbacks, which it must not break.
        container.Change((Breaker + "FailureRatio", "0.6"));

        Assert.True(applied.IsApplied);
        Assert.False(rejected.IsApplied);
        Assert.Equal(0.6, breaker.Options.FailureRatio);
        Assert.Equal(["applied", "rejected", "applied"], reloads.GetMeasurementSnapshot().Select(m => (string)m.Tags["result"]!));
    }

    [Fact]
    public void Options_pushed_by_code_go_through_the_same_checks_and_configuration_takes_over_when_it_changes()
    {
        using var container = new TestContainer(Orders());
        using var reloads = container.Reloads();
        var pipeline = container.Provider.GetPipeline("orders");
        var breaker = BreakerOf(pipeline);
        Fail(pipeline, 2);

        var applied = container.Provider.UpdateOptions("Pipelines:orders:CircuitBreaker", new CircuitBreakerOptions { FailureRatio = 0.3, MinimumThroughput = 50 });
        var rejected = container.Provider.UpdateOptions("Pipelines:orders:CircuitBreaker", new CircuitBreakerOptions { FailureRatio = 3 });

        Assert.True(applied.IsApplied);
        Assert.Equal("code (Pipelines:orders:CircuitBreaker)", applied.Source);
        Assert.Equal(["Resilience:Pipelines:orders:CircuitBreaker:FailureRatio must be in (0, 1]; was 3."], rejected.Errors);
        Assert.Equal((0.3, 50, CircuitState.Open), (breaker.Options.FailureRatio, breaker.Options.MinimumThroughput, breaker.State));
        Assert.Equal(["applied", "rejected"], reloads.GetMeasurementSnapshot().Select(m => (string)m.Tags["result"]!));

        // A change elsewhere keeps the pushed options; a change of the breaker's own section replaces them.
        container.Change((Timeout + "Timeout", "00:00:04"));
        Assert.Equal(50, breaker.Options.MinimumThroughput);
        container.Change((Breaker + "FailureRatio", "0.6"));
        Assert.Equal((0.6, 2), (breaker.Options.FailureRatio, breaker.Options.MinimumThroughput));

        Assert.Throws<KeyNotFoundException>(() => container.Provider.UpdateOptions("Pipelines:orders:Breaker", new CircuitBreakerOptions()));
        Assert.Throws<ArgumentException>(() => container.Provider.UpdateOptions("Pipelines:orders:CircuitBreaker", new TimeoutOptions()));
    }

    [Fact]
    public void Options_pushed_for_a_strategy_that_leaves_the_settings_do_not_come_back_with_it()
    {
        using var container = new TestContainer(Orders());
        var pipeline = container.Provider.GetPipeline("orders");
        Assert.True(container.Provider.UpdateOptions("Pipelines:orders:Timeout", new TimeoutOptions { Timeout = TimeSpan.FromSeconds(1) }).IsApplied);

        // The timeout leaves the pipeline, then comes back with the very section it had before the push.
        container.Change(("Resilience:Pipelines:orders:Strategies:4", null), (Timeout + "Timeout", null));
        container.Change(("Resilience:Pipelines:orders:Strategies:4", "Timeout"), (Timeout + "Timeout", "00:00:10"));

        Assert.True(container.Provider.LastReload!.IsApplied, container.Provider.LastReload.ToString());
        Assert.Equal(TimeSpan.FromSeconds(10), Strategy<TimeoutStrategy>(pipeline).Timeout);
    }

    [Fact]
    public void Options_pushed_for_a_strategy_no_longer_in_the_settings_are_rejected_not_reported_applied()
    {
        var settings = Orders();
        using var container = new TestContainer(settings);
        var pipeline = container.Provider.GetPipeline("orders");
        var breaker = BreakerOf(pipeline);

        // The pipeline leaves configuration; callers that hold it go on with its last strategies.
        container.Change([.. settings.Keys.Where(key => key.StartsWith("Resilience:Pipelines:", StringComparison.Ordinal)).Select(key => (key, (string?)null))]);
        Assert.True(container.Provider.LastReload!.IsApplied, container.Provider.LastReload.ToString());

        var result = container.Provider.UpdateOptions("Pipelines:orders:CircuitBreaker", new CircuitBreakerOptions { MinimumThroughput = 50 });

        // It was reported applied, with the breaker still on its old options.
        Assert.False(result.IsApplied);
        Assert.Equal(
            ["Resilience:Pipelines:orders:CircuitBreaker is no longer in the settings (its pipeline no longer lists it): options pushed to it would not apply; it keeps its last options."],
            result.Errors);
        Assert.Equal(2, breaker.Options.MinimumThroughput);

        // A shared instance whose section was removed is in the same case.
        container.Change(("Resilience:RetryBudgets:backend:MaxTokens", null), ("Resilience:TokenBuckets:api:Burst", "5"));
        Assert.Equal(
            ["Resilience:RetryBudgets:backend is no longer in the settings (its section was removed): options pushed to it would not apply; it keeps its last options."],
            container.Provider.UpdateOptions("RetryBudgets:backend", new RetryBudgetOptions { MaxTokens = 3 }).Errors);
        Assert.Equal(10, container.Provider.GetRetryBudget("backend").Balance);
    }

    [Fact]
    public void Code_bound_and_shared_instances_follow_their_sections()
    {
        using var container = new TestContainer(new Dictionary<string, string?>(), services =>
        {
            services.AddResilience().AddTokenBucket("api", o => o.PermitsPerSecond = 10);
            services.AddResiliencePipeline("orders", (builder, context) => builder
                .AddRateLimiter(context.GetTokenBucket("api"))
                .AddStrategy(context.BindTimeout(configure: o => o.Timeout = TimeSpan.FromSeconds(9))));
        });
        var timeout = Strategy<TimeoutStrategy>(container.Provider.GetPipeline("orders"));

        container.Change(("Resilience:TokenBuckets:api:PermitsPerSecond", "20"), (Timeout + "Timeout", "00:00:01"));

        Assert.Equal(20, container.Provider.GetTokenBucket("api").Options.PermitsPerSecond);
        Assert.Equal(TimeSpan.FromSeconds(1), timeout.Timeout);
    }

    /// <summary>
    /// Whatever the sequence of changes, valid or not, the breaker always runs with the last valid settings, and every
    /// change is counted once as applied or rejected.
    /// </summary>
    [Property(MaxTest = 30)]
    public Property The_last_valid_settings_are_always_in_force(NonEmptyArray<int> changes)
    {
        using var container = new TestContainer(Orders());
        using var reloads = container.Reloads();
        var breaker = BreakerOf(container.Provider.GetPipeline("orders"));
        var expected = 0.5;
        var valid = 0;
        var step = 0;
        foreach (var change in changes.Get)
        {
            // Ratios in (-0.5, 1.5): about half are valid; a step counter keeps consecutive values distinct.
            var ratio = (Math.Abs(change % 1000) / 500.0) - 0.5 + (++step * 1e-9);
            container.Change((Breaker + "FailureRatio", ratio.ToString("R", System.Globalization.CultureInfo.InvariantCulture)));
            if (ratio > 0 && ratio <= 1)
            {
                expected = ratio;
                valid++;
            }
        }

        var results = reloads.GetMeasurementSnapshot().Select(m => (string)m.Tags["result"]!).ToList();
        return (breaker.Options.FailureRatio == expected
                && results.Count == changes.Get.Length
                && results.Count(r => r == "applied") == valid)
            .Label($"ratio {breaker.Options.FailureRatio} (expected {expected}), results {string.Join(",", results)}");
    }
}
