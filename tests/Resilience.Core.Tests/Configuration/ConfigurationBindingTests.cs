using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Resilience.DependencyInjection;
using Resilience.Tests.DependencyInjection;

namespace Resilience.Tests.Configuration;

public class ConfigurationBindingTests
{
    private static Dictionary<string, string?> Orders(params (string Key, string Value)[] extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Resilience:Pipelines:orders:Strategies:0"] = "Retry",
            ["Resilience:Pipelines:orders:Strategies:1"] = "CircuitBreaker",
            ["Resilience:Pipelines:orders:Strategies:2"] = "AttemptTimeout",
            ["Resilience:Pipelines:orders:Retry:MaxRetryAttempts"] = "2",
            ["Resilience:Pipelines:orders:Retry:Delay"] = "00:00:00",
            ["Resilience:Pipelines:orders:Retry:UseJitter"] = "false",
            ["Resilience:Pipelines:orders:CircuitBreaker:FailureRatio"] = "0.25",
            ["Resilience:Pipelines:orders:CircuitBreaker:MinimumThroughput"] = "8",
            ["Resilience:Pipelines:orders:CircuitBreaker:BreakDuration"] = "00:01:30",
            ["Resilience:Pipelines:orders:CircuitBreaker:SlowCallDuration"] = "00:00:02.500",
            ["Resilience:Pipelines:orders:AttemptTimeout:Type"] = "Timeout",
            ["Resilience:Pipelines:orders:AttemptTimeout:Timeout"] = "00:00:05",
        };
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }

        return settings;
    }

    private static IReadOnlyList<string> Failures(Dictionary<string, string?> settings, Action<IServiceCollection>? configure = null)
    {
        using var container = new TestContainer(settings, configure);
        return Assert.Throws<OptionsValidationException>(() => container.Provider).Failures.ToList();
    }

    [Fact]
    public void A_pipeline_declared_in_configuration_has_its_strategies_in_the_listed_order_with_bound_options()
    {
        using var container = new TestContainer(Orders());
        var pipeline = container.Provider.GetPipeline("orders");

        Assert.Equal(["Telemetry", "orders/Retry", "orders/CircuitBreaker", "orders/AttemptTimeout"], pipeline.Strategies.Select(s => s.Name));
        var breaker = ((CircuitBreakerStrategy)pipeline.Strategies[2]).Breaker.Options;
        Assert.Equal((0.25, 8, TimeSpan.FromSeconds(90), TimeSpan.FromMilliseconds(2500)), (breaker.FailureRatio, breaker.MinimumThroughput, breaker.BreakDuration, breaker.SlowCallDuration));
        Assert.Same(container.Time, breaker.TimeProvider);
        Assert.Equal(TimeSpan.FromSeconds(5), ((TimeoutStrategy)pipeline.Strategies[3]).Timeout);
        var retry = ((RetryStrategy)pipeline.Strategies[1]).Options;
        Assert.Equal((2, TimeSpan.Zero, false), (retry.MaxRetryAttempts, retry.Delay, retry.UseJitter));

        var attempts = 0;
        Assert.Equal(3, pipeline.Execute(_ => ++attempts < 3 ? throw new IOException() : attempts));
    }

    [Fact]
    public void A_configured_pipeline_serves_any_result_type_with_the_same_instances()
    {
        using var container = new TestContainer(Orders());

        var untyped = container.Provider.GetPipeline("orders");
        var typed = container.Provider.GetPipeline<string>("orders");

        Assert.Same(typed, container.Provider.GetPipeline<string>("orders"));
        Assert.Same(((CircuitBreakerStrategy)untyped.Strategies[2]).Breaker, ((CircuitBreakerStrategy)typed.Strategies[2]).Breaker);
        Assert.Equal("ok", typed.Execute(static _ => "ok"));
    }

    [Fact]
    public void Code_binds_options_that_configuration_overlays()
    {
        using var container = new TestContainer(
            new Dictionary<string, string?> { ["Resilience:Pipelines:orders:Breaker:FailureRatio"] = "0.75" },
            services => services.AddResiliencePipeline("orders", (builder, context) =>
                builder.AddCircuitBreaker(context.BindCircuitBreaker("Breaker", o => { o.MinimumThroughput = 3; o.FailureRatio = 0.1; }))));

        var options = ((CircuitBreakerStrategy)container.Provider.GetPipeline("orders").Strategies[1]).Breaker.Options;

        Assert.Equal((0.75, 3, "orders/Breaker"), (options.FailureRatio, options.MinimumThroughput, options.Name));
    }

    [Fact]
    public void Configured_strategies_can_refer_to_shared_instances_declared_in_code_or_configuration()
    {
        using var container = new TestContainer(
            new Dictionary<string, string?>
            {
                ["Resilience:CircuitBreakers:payments:BreakDuration"] = "00:00:45",
                ["Resilience:RetryBudgets:backend:MaxTokens"] = "20",
                ["Resilience:TokenBuckets:api:PermitsPerSecond"] = "50",
                ["Resilience:Pipelines:checkout:Strategies:0"] = "Retry",
                ["Resilience:Pipelines:checkout:Strategies:1"] = "CircuitBreaker",
                ["Resilience:Pipelines:checkout:Strategies:2"] = "TokenBucket",
                ["Resilience:Pipelines:checkout:Retry:RetryBudget"] = "backend",
                ["Resilience:Pipelines:checkout:CircuitBreaker:Shared"] = "payments",
                ["Resilience:Pipelines:checkout:TokenBucket:Shared"] = "api",
                ["Resilience:Pipelines:refunds:Strategies:0"] = "CircuitBreaker",
                ["Resilience:Pipelines:refunds:CircuitBreaker:Shared"] = "payments",
            },
            services => services.AddResilience().AddCircuitBreaker("payments", o => o.MinimumThroughput = 7));
        var provider = container.Provider;
        var checkout = provider.GetPipeline("checkout");

        var payments = provider.GetCircuitBreaker("payments");
        Assert.Same(payments, ((CircuitBreakerStrategy)provider.GetPipeline("refunds").Strategies[1]).Breaker);
        Assert.Same(payments, ((CircuitBreakerStrategy)checkout.Strategies[2]).Breaker);
        Assert.Equal((7, TimeSpan.FromSeconds(45)), (payments.Options.MinimumThroughput, payments.Options.BreakDuration));
        Assert.Same(provider.GetRetryBudget("backend"), ((RetryStrategy)checkout.Strategies[1]).Options.Budget);
        Assert.Equal(20, provider.GetRetryBudget("backend").Balance);
        Assert.Same(provider.GetTokenBucket("api"), ((RateLimiterStrategy)checkout.Strategies[3]).Limiter);
        Assert.Equal(50, provider.GetTokenBucket("api").Options.PermitsPerSecond);
    }

    [Fact]
    public void An_invalid_value_is_reported_with_its_key_and_allowed_range()
    {
        Assert.Equal(
            ["Resilience:Pipelines:orders:CircuitBreaker:FailureRatio must be in (0, 1]; was 1.5."],
            Failures(Orders(("Resilience:Pipelines:orders:CircuitBreaker:FailureRatio", "1.5"))));
    }

    [Fact]
    public void An_unparsable_value_is_reported_with_its_key_and_the_form_it_must_take()
    {
        var failures = Failures(Orders(
            ("Resilience:Pipelines:orders:CircuitBreaker:BreakDuration", "5s"),
            ("Resilience:Pipelines:orders:CircuitBreaker:FailureRatio", "0,25"),
            ("Resilience:Pipelines:orders:CircuitBreaker:MinimumThroughput", "two"),
            ("Resilience:Pipelines:orders:Retry:Backoff", "Fast"),
            ("Resilience:Pipelines:orders:Retry:UseJitter", "yes")));

        // Every value of a section, not only the first the binder stopped at; each says what form it must take.
        Assert.Equal(
            [
                "Resilience:Pipelines:orders:Retry:Backoff must be one of: Constant, Linear, Exponential; was 'Fast'.",
                "Resilience:Pipelines:orders:Retry:UseJitter must be true or false; was 'yes'.",
                "Resilience:Pipelines:orders:CircuitBreaker:BreakDuration must be a duration written [d.]hh:mm:ss[.fffffff] (for example 00:00:05); was '5s'.",
                "Resilience:Pipelines:orders:CircuitBreaker:FailureRatio must be a number written with '.' as the decimal separator (for example 0.5); was '0,25'.",
                "Resilience:Pipelines:orders:CircuitBreaker:MinimumThroughput must be a whole number; was 'two'.",
            ],
            failures);
    }

    [Fact]
    public void Every_error_of_a_configuration_is_reported_at_once()
    {
        var failures = Failures(Orders(
            ("Resilience:Pipelines:orders:CircuitBreaker:FailureRaito", "0.5"),
            ("Resilience:Pipelines:orders:Retry:MaxRetryAttempts", "500"),
            ("Resilience:Pipelines:orders:AttemptTimeout:Timeout", "soon"),
            ("Resilience:Pipelines:orders:Fallback:Value", "0"),
            ("Resilience:Pipelines:billing:Strategies:0", "Bulkhead"),
            ("Resilience:Pipelines:refunds:Strategies:0", "CircuitBreaker"),
            ("Resilience:Pipelines:refunds:CircuitBreaker:Shared", "payments"),
            ("Resilience:Pipelines:search:Timeout:Timeout", "00:00:01"),
            ("Resilience:Pipeline:typo", "1")));

        Assert.Equal(
            [
                "Resilience:Pipeline is not a known section; expected one of: CircuitBreakers, TokenBuckets, ConcurrencyLimiters, RetryBudgets, Pipelines.",
                "Resilience:Pipelines:billing:Strategies:0 names 'Bulkhead', whose type 'Bulkhead' is not a strategy type; expected one of: CircuitBreaker, TokenBucket, ConcurrencyLimiter, Timeout, Retry (set Resilience:Pipelines:billing:Bulkhead:Type when the section name is not the type).",
                "Resilience:Pipelines:orders:Retry:MaxRetryAttempts must be in [0, 100]; was 500.",
                "Resilience:Pipelines:orders:CircuitBreaker:FailureRaito is not an option of CircuitBreaker; known options: FailureRatio, MinimumThroughput, SamplingDuration, BucketCount, SlowCallDuration, SlowCallRatio, ConsecutiveFailures, BreakDuration, BreakDurationMultiplier, MaxBreakDuration, BreakDurationJitter, PermittedProbes, ProbeSuccessRatio, ProbeTimeout, JitterSeed.",
                "Resilience:Pipelines:orders:AttemptTimeout:Timeout must be a duration written [d.]hh:mm:ss[.fffffff] (for example 00:00:05); was 'soon'.",
                "Resilience:Pipelines:orders:Fallback is not listed in Resilience:Pipelines:orders:Strategies.",
                "Resilience:Pipelines:refunds:CircuitBreaker:Shared refers to CircuitBreaker 'payments', which is not declared (in code, or under Resilience:CircuitBreakers:payments).",
                "Resilience:Pipelines:search has no Strategies list and no pipeline 'search' is registered in code.",
            ],
            failures);
    }

    [Fact]
    public void A_retry_out_of_range_that_refers_to_an_undeclared_budget_reports_both()
    {
        // The retry is not planned with an error of its own, but its reference is checked all the same: fixing the
        // range must not reveal a second mistake that was there from the start.
        var failures = Failures(Orders(
            ("Resilience:Pipelines:orders:Retry:MaxRetryAttempts", "500"),
            ("Resilience:Pipelines:orders:Retry:RetryBudget", "backend")));

        Assert.Equal(
            [
                "Resilience:Pipelines:orders:Retry:MaxRetryAttempts must be in [0, 100]; was 500.",
                "Resilience:Pipelines:orders:Retry:RetryBudget refers to retry budget 'backend', which is not declared (in code, or under Resilience:RetryBudgets:backend).",
            ],
            failures);
    }

    [Fact]
    public void A_value_where_a_section_belongs_and_a_section_where_a_value_belongs_are_errors()
    {
        // Each of these bound nothing and ran on defaults before: a timeout of 30 s instead of 5 s, a default breaker.
        var settings = Orders(
            ("Resilience:Pipelines:orders:CircuitBreaker:MinimumThroughput:Value", "3"),
            ("Resilience:CircuitBreakers:payments", "0.5"));
        settings.Remove("Resilience:Pipelines:orders:AttemptTimeout:Type");
        settings.Remove("Resilience:Pipelines:orders:AttemptTimeout:Timeout");
        settings["Resilience:Pipelines:orders:Strategies:2"] = "Timeout";
        settings["Resilience:Pipelines:orders:Timeout"] = "00:00:05";

        Assert.Equal(
            [
                "Resilience:CircuitBreakers:payments must be a section of CircuitBreaker options, not a value; was '0.5'.",
                "Resilience:Pipelines:orders:CircuitBreaker:MinimumThroughput must be a value, not a section.",
                "Resilience:Pipelines:orders:Timeout must be a section of Timeout options, not a value; was '00:00:05'.",
            ],
            Failures(settings));
    }

    [Fact]
    public void A_value_where_a_root_section_belongs_is_an_error()
    {
        Assert.Equal(
            [
                "Resilience:CircuitBreakers must be a section, not a value; was 'payments'.",
                "Resilience:Pipelines must be a section, not a value; was 'orders'.",
            ],
            Failures(new Dictionary<string, string?>
            {
                ["Resilience:CircuitBreakers"] = "payments",
                ["Resilience:Pipelines"] = "orders",
            }));
    }

    [Fact]
    public void An_entry_of_a_strategy_list_that_is_not_a_name_is_an_error()
    {
        // The entry was skipped: the pipeline ran without the strategy it was meant to list.
        Assert.Equal(
            ["Resilience:Pipelines:orders:Strategies must be a list of section names, outermost strategy first (for example [\"Retry\", \"CircuitBreaker\", \"Timeout\"])."],
            Failures(Orders(("Resilience:Pipelines:orders:Strategies:3:Name", "Fallback"))));
    }

    [Fact]
    public void A_shared_instance_listed_twice_in_one_pipeline_is_an_error()
    {
        // Every call went through the breaker twice and was counted twice; a shared limiter took two permits per call.
        Assert.Equal(
            ["Resilience:Pipelines:refunds:Strategies:1 names 'Outer', which refers to CircuitBreaker 'Payments' as Resilience:Pipelines:refunds:Strategies:0 does; a pipeline goes through a shared instance once."],
            Failures(new Dictionary<string, string?>
            {
                ["Resilience:CircuitBreakers:payments:MinimumThroughput"] = "4",
                ["Resilience:Pipelines:refunds:Strategies:0"] = "CircuitBreaker",
                ["Resilience:Pipelines:refunds:Strategies:1"] = "Outer",
                ["Resilience:Pipelines:refunds:CircuitBreaker:Shared"] = "payments",
                ["Resilience:Pipelines:refunds:Outer:Type"] = "CircuitBreaker",
                ["Resilience:Pipelines:refunds:Outer:Shared"] = "Payments",
            }));
    }

    [Fact]
    public void The_section_of_a_pipeline_registered_in_code_is_found_whatever_the_case_of_its_key()
    {
        // Configuration keys are case-insensitive: ORDERS from an environment variable is the section of "orders".
        using var container = new TestContainer(
            new Dictionary<string, string?> { ["Resilience:Pipelines:ORDERS:Timeout:Timeout"] = "00:00:02" },
            services => services.AddResiliencePipeline("orders", (builder, context) => builder.AddStrategy(context.BindTimeout())));
        var timeout = (TimeoutStrategy)container.Provider.GetPipeline("orders").Strategies[1];
        Assert.Equal(TimeSpan.FromSeconds(2), timeout.Timeout);

        container.Change(("Resilience:Pipelines:ORDERS:Timeout:Timeout", "00:00:04"));

        Assert.True(container.Provider.LastReload!.IsApplied, container.Provider.LastReload.ToString());
        Assert.Equal(TimeSpan.FromSeconds(4), timeout.Timeout);

        // Two pipelines whose names differ only in case would read, and bind, the same section.
        var services = new ServiceCollection().AddResiliencePipeline("orders", (_, _) => { });
        Assert.Throws<ArgumentException>(() => services.AddResiliencePipeline("Orders", (_, _) => { }));
    }

    [Fact]
    public void A_configured_pipeline_is_found_by_its_name_whatever_the_case_another_source_gives_its_key()
    {
        // A file declares "orders"; an environment variable overrides one value as ORDERS: the merged key may take either case.
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(Orders())
            .AddInMemoryCollection(new Dictionary<string, string?> { ["RESILIENCE:PIPELINES:ORDERS:ATTEMPTTIMEOUT:TIMEOUT"] = "00:00:02" })
            .Build();
        using var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration).AddResilience().Services.BuildServiceProvider();
        var provider = services.GetRequiredService<ResiliencePipelineProvider>();

        var pipeline = provider.GetPipeline("orders");

        Assert.Same(pipeline, provider.GetPipeline("ORDERS"));
        Assert.Equal(TimeSpan.FromSeconds(2), pipeline.Strategies.OfType<TimeoutStrategy>().Single().Timeout);
    }

    [Fact]
    public void A_strategy_list_for_a_pipeline_registered_in_code_is_an_error()
    {
        Assert.Equal(
            ["Resilience:Pipelines:prices:Strategies declares the strategies of pipeline 'prices', which is registered in code: its code decides its strategies."],
            Failures(
                new Dictionary<string, string?> { ["Resilience:Pipelines:prices:Strategies:0"] = "Timeout" },
                services => services.AddResiliencePipeline("prices", (_, _) => { })));
    }

    [Fact]
    public void A_section_the_code_of_its_pipeline_does_not_bind_is_an_error()
    {
        Assert.Equal(
            ["Resilience:Pipelines:orders:Timout is not bound by the code of pipeline 'orders' (bound: Timeout)."],
            Failures(
                new Dictionary<string, string?> { ["Resilience:Pipelines:orders:Timout:Timeout"] = "00:00:01" },
                services => services.AddResiliencePipeline("orders", (builder, context) => builder.AddStrategy(context.BindTimeout()))));
    }

    [Fact]
    public void A_duration_written_as_a_bare_number_is_an_error_not_that_many_days()
    {
        // The binder reads "5" as five days: a queue timeout meant as 5 s waited five days, a bucket's wait one day.
        var failures = Failures(new Dictionary<string, string?>
        {
            ["Resilience:ConcurrencyLimiters:db:QueueTimeout"] = "5",
            ["Resilience:TokenBuckets:api:MaxWait"] = "1",
            ["Resilience:TokenBuckets:api:Burst"] = "0",
        });

        Assert.Equal(
            [
                "Resilience:TokenBuckets:api:MaxWait must be a duration written [d.]hh:mm:ss[.fffffff] (for example 00:00:05); was '1', which reads as 1.00:00:00 (without ':' it counts days); write 00:00:01 for 1 second, 1.00:00:00 for 1 day.",
                "Resilience:TokenBuckets:api:Burst must be in [1, 1000000000]; was 0.",
                "Resilience:ConcurrencyLimiters:db:QueueTimeout must be a duration written [d.]hh:mm:ss[.fffffff] (for example 00:00:05); was '5', which reads as 5.00:00:00 (without ':' it counts days); write 00:00:05 for 5 seconds, 5.00:00:00 for 5 days.",
            ],
            failures);

        // A duration with its days written out is read as such.
        using var container = new TestContainer(new Dictionary<string, string?> { ["Resilience:ConcurrencyLimiters:db:QueueTimeout"] = "1.00:00:00" });
        Assert.Equal(TimeSpan.FromDays(1), container.Provider.GetConcurrencyLimiter("db").Options.QueueTimeout);
    }

    [Fact]
    public void A_type_that_contradicts_what_a_section_declares_is_an_error()
    {
        // Both were ignored: "api" ran as a token bucket, and the pipeline's "Breaker" section as a breaker.
        Assert.Equal(
            [
                "Resilience:TokenBuckets:api:Type says 'ConcurrencyLimiter', but a section under Resilience:TokenBuckets is a TokenBucket (declare it under the section of that kind instead).",
                "Resilience:Pipelines:orders:Breaker:Type says 'Timeout', but the code of pipeline 'orders' binds this section as a CircuitBreaker.",
            ],
            Failures(
                new Dictionary<string, string?>
                {
                    ["Resilience:TokenBuckets:api:Type"] = "ConcurrencyLimiter",
                    ["Resilience:TokenBuckets:api:Burst"] = "5",
                    ["Resilience:Pipelines:orders:Breaker:Type"] = "Timeout",
                },
                services => services.AddResiliencePipeline("orders", (builder, context) => builder.AddCircuitBreaker(context.BindCircuitBreaker("Breaker")))));
    }

    [Fact]
    public void A_whole_number_too_large_for_its_option_says_the_range_its_type_holds()
    {
        // "must be a whole number; was '99999999999'" told the reader to write what they had written.
        Assert.Equal(
            [
                "Resilience:Pipelines:orders:Retry:MaxRetryAttempts must be a whole number in [-2147483648, 2147483647]; was '99999999999'.",
                "Resilience:Pipelines:orders:CircuitBreaker:MinimumThroughput must be a whole number; was '8.5'.",
            ],
            Failures(Orders(
                ("Resilience:Pipelines:orders:Retry:MaxRetryAttempts", "99999999999"),
                ("Resilience:Pipelines:orders:CircuitBreaker:MinimumThroughput", "8.5"))));
    }

    [Fact]
    public void Settings_bound_from_a_configuration_root_are_named_by_their_own_keys()
    {
        // A file of resilience settings alone, bound as it is: its keys have no "Resilience:" in front.
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Pipelines:orders:Strategies:0"] = "CircuitBreaker",
            ["Pipelines:orders:CircuitBreaker:FailureRatio"] = "1.5",
            ["Pipelines:orders:CircuitBreaker:FailureRaito"] = "0.5",
            ["Pipelines:refunds:Strategies:0"] = "CircuitBreaker",
            ["Pipelines:refunds:CircuitBreaker:Shared"] = "payments",
        }).Build();
        using var services = new ServiceCollection().AddResilience(configuration).Services.BuildServiceProvider();

        var failures = Assert.Throws<OptionsValidationException>(services.GetRequiredService<ResiliencePipelineProvider>).Failures;

        // Some messages named "Resilience:Pipelines:…", keys that exist nowhere.
        Assert.Equal(
            [
                "Pipelines:orders:CircuitBreaker:FailureRaito is not an option of CircuitBreaker; known options: FailureRatio, MinimumThroughput, SamplingDuration, BucketCount, SlowCallDuration, SlowCallRatio, ConsecutiveFailures, BreakDuration, BreakDurationMultiplier, MaxBreakDuration, BreakDurationJitter, PermittedProbes, ProbeSuccessRatio, ProbeTimeout, JitterSeed.",
                "Pipelines:orders:CircuitBreaker:FailureRatio must be in (0, 1]; was 1.5.",
                "Pipelines:refunds:CircuitBreaker:Shared refers to CircuitBreaker 'payments', which is not declared (in code, or under CircuitBreakers:payments).",
            ],
            failures);
    }
}
