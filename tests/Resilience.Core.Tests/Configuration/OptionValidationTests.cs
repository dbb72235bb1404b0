using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Resilience.Tests.DependencyInjection;

namespace Resilience.Tests.Configuration;

/// <summary>Every option out of its range is reported at once, in code, at start and on a rejected reload.</summary>
public class OptionValidationTests
{
    private const string Breaker = "Resilience:Pipelines:orders:CircuitBreaker:";
    private const string Retry = "Resilience:Pipelines:orders:Retry:";

    private static Dictionary<string, string?> Orders(params (string Key, string Value)[] extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Resilience:Pipelines:orders:Strategies:0"] = "Retry",
            ["Resilience:Pipelines:orders:Strategies:1"] = "CircuitBreaker",
            [Retry + "MaxRetryAttempts"] = "2",
            [Breaker + "MinimumThroughput"] = "4",
        };
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }

        return settings;
    }

    private static IReadOnlyList<string> StartFailures(Dictionary<string, string?> settings)
    {
        using var container = new TestContainer(settings);
        return Assert.Throws<OptionsValidationException>(() => container.Provider).Failures.ToList();
    }

    [Fact]
    public void Validate_names_every_option_out_of_range_each_on_its_own_line()
    {
        var options = new CircuitBreakerOptions { FailureRatio = 1.5, MinimumThroughput = 0, BreakDuration = TimeSpan.Zero };

        var exception = Assert.ThrowsAny<ArgumentOutOfRangeException>(options.Validate);

        Assert.Equal(
            [
                "CircuitBreakerOptions has 3 options out of range:",
                "CircuitBreakerOptions.FailureRatio must be in (0, 1]; was 1.5.",
                "CircuitBreakerOptions.MinimumThroughput must be in [1, 2147483647]; was 0.",
                "CircuitBreakerOptions.BreakDuration must be in [00:00:00.0010000, 1.00:00:00]; was 00:00:00.",
            ],
            exception.Message.Split(Environment.NewLine));

        // Code that reads the parameter of the single error still finds the first option at fault.
        Assert.Equal("CircuitBreakerOptions.FailureRatio", exception.ParamName);
    }

    [Fact]
    public void Validate_reports_a_single_error_as_before()
    {
        var exception = Assert.Throws<ArgumentOutOfRangeException>(new TokenBucketLimiterOptions { Burst = 0 }.Validate);

        Assert.Equal(("TokenBucketLimiterOptions.Burst", "TokenBucketLimiterOptions.Burst must be in [1, 1000000000]; was 0. (Parameter 'TokenBucketLimiterOptions.Burst')"), (exception.ParamName, exception.Message));
    }

    [Fact]
    public void An_option_bounded_by_an_invalid_option_is_not_reported_a_second_time()
    {
        // MaxDelay's lower bound is Delay; with Delay itself out of range, MaxDelay (the default 30 s) is fine.
        var exception = Assert.Throws<ArgumentOutOfRangeException>(new RetryOptions { Delay = TimeSpan.FromDays(2) }.Validate);

        Assert.Equal("RetryOptions.Delay", exception.ParamName);
    }

    [Fact]
    public void Every_option_out_of_range_in_one_section_is_reported_at_start_with_its_key()
    {
        var failures = StartFailures(Orders(
            (Breaker + "FailureRatio", "1.5"),
            (Breaker + "MinimumThroughput", "0"),
            (Breaker + "BreakDuration", "00:00:00"),
            (Retry + "MaxRetryAttempts", "500"),
            (Retry + "MaxRetryAfter", "-00:00:01")));

        Assert.Equal(
            [
                "Resilience:Pipelines:orders:Retry:MaxRetryAttempts must be in [0, 100]; was 500.",
                "Resilience:Pipelines:orders:Retry:MaxRetryAfter must be in [00:00:00, 1.00:00:00]; was -00:00:01.",
                "Resilience:Pipelines:orders:CircuitBreaker:FailureRatio must be in (0, 1]; was 1.5.",
                "Resilience:Pipelines:orders:CircuitBreaker:MinimumThroughput must be in [1, 2147483647]; was 0.",
                "Resilience:Pipelines:orders:CircuitBreaker:BreakDuration must be in [00:00:00.0010000, 1.00:00:00]; was 00:00:00.",
            ],
            failures);
    }

    [Fact]
    public void A_value_that_does_not_convert_does_not_hide_values_out_of_range_in_its_section()
    {
        var failures = StartFailures(Orders(
            (Breaker + "FailureRatio", "abc"),
            (Breaker + "MinimumThroughput", "0"),
            (Breaker + "BreakDuration", "10s")));

        Assert.Equal(
            [
                "Resilience:Pipelines:orders:CircuitBreaker:BreakDuration must be a duration written [d.]hh:mm:ss[.fffffff] (for example 00:00:05); was '10s'.",
                "Resilience:Pipelines:orders:CircuitBreaker:FailureRatio must be a number written with '.' as the decimal separator (for example 0.5); was 'abc'.",
                "Resilience:Pipelines:orders:CircuitBreaker:MinimumThroughput must be in [1, 2147483647]; was 0.",
            ],
            failures);
    }

    [Fact]
    public void A_rejected_reload_returns_and_logs_every_error_each_on_its_own_line()
    {
        using var container = new TestContainer(Orders());
        var breaker = ((CircuitBreakerStrategy)container.Provider.GetPipeline("orders").Strategies[2]).Breaker;

        container.Change((Breaker + "FailureRatio", "2"), (Breaker + "MinimumThroughput", "-1"), (Retry + "MaxRetryAttempts", "101"));

        var result = container.Provider.LastReload!;
        string[] errors =
        [
            "Resilience:Pipelines:orders:Retry:MaxRetryAttempts must be in [0, 100]; was 101.",
            "Resilience:Pipelines:orders:CircuitBreaker:FailureRatio must be in (0, 1]; was 2.",
            "Resilience:Pipelines:orders:CircuitBreaker:MinimumThroughput must be in [1, 2147483647]; was -1.",
        ];
        Assert.False(result.IsApplied);
        Assert.Equal(errors, result.Errors);
        Assert.Equal(4, breaker.Options.MinimumThroughput);
        Assert.Equal(["Rejected (configuration), 3 error(s):", .. errors], result.ToString().Split('\n'));
        var log = container.Logs.Collector.LatestRecord;
        Assert.Equal((LogLevel.Error, "ReloadRejected"), (log.Level, log.Id.Name));
        Assert.Equal(errors, log.Message.Split('\n')[1..]);
    }

    /// <summary>
    /// A malformed entry in a Strategies list (found by the configuration tree fuzz tests) used to stop the reading of the
    /// whole pipeline: the mistakes in the sections its other entries name came out only once the list was fixed.
    /// </summary>
    [Fact]
    public void A_malformed_strategies_list_does_not_hide_the_mistakes_of_the_sections_it_names()
    {
        var failures = StartFailures(Orders(
            ("Resilience:Pipelines:orders:Strategies:first", "Timeout"),
            ("Resilience:Pipelines:orders:Timeout:Timeout", "00:00:05"),
            (Breaker + "FailureRatio", "1.5")));

        // The section only the malformed entry names is not reported a second time as unlisted.
        Assert.Equal(
            [
                "Resilience:Pipelines:orders:Strategies must be a list of section names, outermost strategy first (for example [\"Retry\", \"CircuitBreaker\", \"Timeout\"]).",
                "Resilience:Pipelines:orders:CircuitBreaker:FailureRatio must be in (0, 1]; was 1.5.",
            ],
            failures);
    }

    [Fact]
    public void A_shared_instance_with_an_invalid_value_is_reported_once_not_also_as_undeclared()
    {
        var failures = StartFailures(new Dictionary<string, string?>
        {
            ["Resilience:CircuitBreakers:payments:FailureRatio"] = "1.5",
            ["Resilience:RetryBudgets:backend:MaxTokens"] = "0",
            ["Resilience:Pipelines:refunds:Strategies:0"] = "Retry",
            ["Resilience:Pipelines:refunds:Strategies:1"] = "CircuitBreaker",
            ["Resilience:Pipelines:refunds:Retry:RetryBudget"] = "backend",
            ["Resilience:Pipelines:refunds:CircuitBreaker:Shared"] = "payments",
        });

        Assert.Equal(
            [
                "Resilience:CircuitBreakers:payments:FailureRatio must be in (0, 1]; was 1.5.",
                "Resilience:RetryBudgets:backend:MaxTokens must be in [1, 1000]; was 0.",
            ],
            failures);
    }

    [Fact]
    public void Every_section_a_pipeline_registered_in_code_binds_is_checked_at_start_not_only_the_first_wrong_one()
    {
        using var container = new TestContainer(
            new Dictionary<string, string?>
            {
                ["Resilience:Pipelines:prices:Breaker:FailureRatio"] = "1.5",
                ["Resilience:Pipelines:prices:Timeout:Timeout"] = "00:00:00",
                ["Resilience:Pipelines:stock:Retry:MaxRetryAttempts"] = "-1",
            },
            services => services
                .AddResiliencePipeline("prices", (builder, context) => builder
                    .AddCircuitBreaker(context.BindCircuitBreaker("Breaker"))
                    .AddStrategy(context.BindTimeout()))
                .AddResiliencePipeline("stock", (builder, context) => builder.AddStrategy(context.BindRetry())));

        Assert.Equal(
            [
                "Resilience:Pipelines:prices:Breaker:FailureRatio must be in (0, 1]; was 1.5.",
                "Resilience:Pipelines:prices:Timeout:Timeout must be in [00:00:00.0010000, 1.00:00:00]; was 00:00:00.",
                "Resilience:Pipelines:stock:Retry:MaxRetryAttempts must be in [0, 100]; was -1.",
            ],
            Assert.Throws<OptionsValidationException>(() => container.Provider).Failures);
    }

    [Fact]
    public void Errors_in_sections_of_pipelines_registered_in_code_are_reported_with_the_other_errors()
    {
        using var container = new TestContainer(
            new Dictionary<string, string?>
            {
                ["Resilience:CircuitBreakers:payments:MinimumThroughput"] = "0",
                ["Resilience:Pipelines:prices:Timeout:Timeout"] = "soon",
                ["Resilience:Pipelines:prices:Timout:Timeout"] = "00:00:01",
            },
            services => services.AddResiliencePipeline("prices", (builder, context) => builder
                .AddCircuitBreaker(context.GetCircuitBreaker("payments"))
                .AddStrategy(context.BindTimeout())));

        Assert.Equal(
            [
                "Resilience:CircuitBreakers:payments:MinimumThroughput must be in [1, 2147483647]; was 0.",
                "Resilience:Pipelines:prices:Timout is not bound by the code of pipeline 'prices' (bound: Timeout).",
                "Resilience:Pipelines:prices:Timeout:Timeout must be a duration written [d.]hh:mm:ss[.fffffff] (for example 00:00:05); was 'soon'.",
            ],
            Assert.Throws<OptionsValidationException>(() => container.Provider).Failures);
    }
}
