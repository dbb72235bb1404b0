using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Resilience.DependencyInjection;

namespace Resilience.Http.Tests;

/// <summary>
/// The standard pipeline <c>AddStandardResilienceHandler</c> attaches to a client of <c>IHttpClientFactory</c>: its five
/// strategies, their standard values and what overrides them, its checks of the options taken together, and its
/// behaviour against a real Kestrel server, with every timer on the container's fake clock.
/// </summary>
public sealed class StandardResilienceHandlerTests
{
    private const string Section = "Resilience:Pipelines:api:";

    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(10);

    private static ServiceProvider Container(
        TimeProvider time, LoopbackServer? server = null, IConfiguration? configuration = null, Action<HttpStandardResilienceOptions>? configure = null)
    {
        var services = new ServiceCollection()
            .AddSingleton(configuration ?? Settings())
            .AddSingleton(time);
        services.AddHttpClient("api", client => client.BaseAddress = server?.Address).AddStandardResilienceHandler("api", configure);
        return services.BuildServiceProvider();
    }

    private static IConfigurationRoot Settings(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(value => KeyValuePair.Create(Section + value.Key, (string?)value.Value))).Build();

    private static HttpClient Client(ServiceProvider container) => container.GetRequiredService<IHttpClientFactory>().CreateClient("api");

    private static ResiliencePipelineProvider Provider(ServiceProvider container) => container.GetRequiredService<ResiliencePipelineProvider>();

    private static IReadOnlyList<ResilienceStrategy> Strategies(ServiceProvider container) =>
        Provider(container).GetPipeline<HttpResponseMessage>("api").Strategies;

    private static T Strategy<T>(ServiceProvider container, int index)
        where T : ResilienceStrategy => Assert.IsType<T>(Strategies(container)[index]);

    /// <summary>A retry's delay: neither the attempt timeout's timer nor the total timeout's.</summary>
    private static bool IsRetryDelay(TimeSpan due) => due != AttemptTimeout && due != TimeSpan.FromSeconds(30);

    [Fact]
    public void The_five_strategies_are_there_outermost_first_with_the_standard_values()
    {
        using var container = Container(new TimerLogTimeProvider());

        var strategies = Strategies(container);

        // The container's telemetry strategy first, then the five.
        Assert.Equal(["api/ConcurrencyLimiter", "api/TotalTimeout", "api/Retry", "api/CircuitBreaker", "api/AttemptTimeout"], strategies.Skip(1).Select(StrategyName));
        var limiter = Assert.IsType<InFlightLimiter>(Strategy<RateLimiterStrategy>(container, 1).Limiter).Options;
        Assert.Equal((1000, 0), (limiter.PermitLimit, limiter.QueueLimit));
        Assert.Equal(TimeSpan.FromSeconds(30), Strategy<TimeoutStrategy>(container, 2).Timeout);
        var retry = Strategy<RetryStrategy>(container, 3).Options;
        Assert.Equal((3, RetryBackoff.Exponential, true, TimeSpan.FromSeconds(2)), (retry.MaxRetryAttempts, retry.Backoff, retry.UseJitter, retry.Delay));
        var breaker = Strategy<CircuitBreakerStrategy>(container, 4).Breaker.Options;
        Assert.Equal(
            (0.1, 100, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(5)),
            (breaker.FailureRatio, breaker.MinimumThroughput, breaker.SamplingDuration, breaker.BreakDuration));
        Assert.Equal(AttemptTimeout, Strategy<TimeoutStrategy>(container, 5).Timeout);

        static string StrategyName(ResilienceStrategy strategy) => strategy switch
        {
            RateLimiterStrategy => $"api/{strategy.Name}",
            CircuitBreakerStrategy { Breaker: var breaker } => breaker.Name,
            _ => strategy.Name,
        };
    }

    [Fact]
    public async Task Transient_503s_are_retried_after_a_backoff_until_a_success()
    {
        await using var server = await LoopbackServer.StartAsync((context, n) => n <= 2 ? LoopbackServer.Status(context, 503, "busy") : LoopbackServer.Status(context, 200, "ok"));
        var time = new TimerLogTimeProvider();
        using var container = Container(time, server, Settings(("Retry:JitterSeed", "7")));

        var sending = Client(container).GetAsync("/items");
        var delays = new List<TimeSpan>();
        for (var retry = 0; retry < 2; retry++)
        {
            // The retry waits on the container's clock: no second attempt until the clock passes its delay.
            var delay = await time.NextTimerAsync(IsRetryDelay);
            Assert.Equal(retry + 1, server.Requests);
            delays.Add(delay);
            time.Advance(delay);
        }

        using var response = await sending;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ok", await response.Content.ReadAsStringAsync());
        Assert.Equal(3, server.Requests);
        Assert.All(delays, delay => Assert.InRange(delay, TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task A_slow_attempt_times_out_and_is_retried_until_the_total_timeout_ends_the_request()
    {
        await using var server = await LoopbackServer.StartAsync((context, _) => LoopbackServer.Slow(context));
        var time = new TimerLogTimeProvider();
        var second = TimeSpan.FromSeconds(1);
        using var container = Container(time, server, Settings(
            ("TotalTimeout:Timeout", "00:00:25"), ("Retry:Backoff", "Constant"), ("Retry:UseJitter", "false"), ("Retry:Delay", "00:00:01")));

        // Attempts of 10 s (the attempt timeout) a second apart: at 0, 11 and 22 s; the total timeout ends the third at 25 s.
        var sending = Client(container).GetAsync("/slow");
        for (var attempt = 1; attempt <= 2; attempt++)
        {
            await server.WaitForRequestAsync();
            time.Advance(AttemptTimeout);
            Assert.Equal(second, await time.NextTimerAsync(due => due == second));
            time.Advance(second);
        }

        await server.WaitForRequestAsync();
        time.Advance(TimeSpan.FromSeconds(3));

        var failure = await Assert.ThrowsAsync<TimeoutRejectedException>(() => sending);
        Assert.Equal((TimeSpan.FromSeconds(25), "api/TotalTimeout"), (failure.Timeout, failure.StrategyName));
        Assert.Equal(3, server.Requests);
    }

    [Fact]
    public async Task The_breaker_opens_after_enough_failures_and_refuses_requests_before_they_are_sent()
    {
        await using var server = await LoopbackServer.StartAsync((context, _) => LoopbackServer.Status(context, 500, "broken"));
        using var container = Container(new TimerLogTimeProvider(), server, Settings(("CircuitBreaker:MinimumThroughput", "4"), ("Retry:MaxRetryAttempts", "0")));
        var client = Client(container);

        for (var i = 0; i < 4; i++)
        {
            using var response = await client.GetAsync("/items");
            Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        }

        var refused = await Assert.ThrowsAsync<BrokenCircuitException>(() => client.GetAsync("/items"));
        Assert.Equal(TimeSpan.FromSeconds(5), refused.RetryAfter);
        Assert.Equal(4, server.Requests);
    }

    [Fact]
    public async Task A_429s_retry_after_is_waited_instead_of_the_backoff()
    {
        await using var server = await LoopbackServer.StartAsync((context, n) =>
        {
            if (n > 1)
            {
                return LoopbackServer.Status(context, 200, "ok");
            }

            context.Response.Headers.RetryAfter = "7";
            return LoopbackServer.Status(context, 429, "slow down");
        });
        var time = new TimerLogTimeProvider();
        using var container = Container(time, server);

        var sending = Client(container).GetAsync("/items");
        var delay = await time.NextTimerAsync(IsRetryDelay);
        Assert.Equal(TimeSpan.FromSeconds(7), delay);
        Assert.Equal(1, server.Requests);
        time.Advance(delay);

        using var response = await sending;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, server.Requests);
    }

    [Fact]
    public async Task Configuration_overrides_a_standard_value_and_leaves_the_others()
    {
        await using var server = await LoopbackServer.StartAsync((context, _) => LoopbackServer.Status(context, 503, "busy"));
        using var container = Container(new TimerLogTimeProvider(), server, Settings(("Retry:MaxRetryAttempts", "1"), ("Retry:Delay", "00:00:00")));

        using var response = await Client(container).GetAsync("/items");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(2, server.Requests);
        var retry = Strategy<RetryStrategy>(container, 3).Options;
        Assert.Equal((1, TimeSpan.Zero, RetryBackoff.Exponential, true), (retry.MaxRetryAttempts, retry.Delay, retry.Backoff, retry.UseJitter));
    }

    [Fact]
    public async Task Code_overrides_a_standard_value_and_configuration_overrides_the_code()
    {
        await using var server = await LoopbackServer.StartAsync((context, _) => LoopbackServer.Status(context, 503, "busy"));
        static void Configure(HttpStandardResilienceOptions options)
        {
            options.Retry.MaxRetryAttempts = 1;
            options.Retry.Delay = TimeSpan.Zero;
            options.AttemptTimeout.Timeout = TimeSpan.FromSeconds(5);
        }

        using (var container = Container(new TimerLogTimeProvider(), server, configure: Configure))
        {
            using var response = await Client(container).GetAsync("/items");

            Assert.Equal(2, server.Requests);

            // Each strategy takes its own options from the code: the other timeout keeps the standard value.
            Assert.Equal((TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(5)), (Strategy<TimeoutStrategy>(container, 2).Timeout, Strategy<TimeoutStrategy>(container, 5).Timeout));
        }

        using (var container = Container(new TimerLogTimeProvider(), server, Settings(("Retry:MaxRetryAttempts", "2")), Configure))
        {
            using var response = await Client(container).GetAsync("/items");

            Assert.Equal(2 + 3, server.Requests);
            Assert.Equal(TimeSpan.Zero, Strategy<RetryStrategy>(container, 3).Options.Delay);
        }
    }

    [Fact]
    public void Options_that_disagree_fail_the_start_with_messages_naming_them_and_the_allowed_relation()
    {
        using var container = Container(
            new TimerLogTimeProvider(),
            configuration: Settings(("TotalTimeout:Timeout", "00:00:15")),
            configure: options => options.AttemptTimeout.Timeout = TimeSpan.FromSeconds(20));

        var failure = Assert.Throws<OptionsValidationException>(() => Provider(container));

        Assert.Equal(
            [
                "Resilience:Pipelines:api:CircuitBreaker:SamplingDuration must be at least twice Resilience:Pipelines:api:AttemptTimeout:Timeout (00:00:40), so that the breaker's window holds several attempts; was 00:00:30.",
                "Resilience:Pipelines:api:TotalTimeout:Timeout must be at least Resilience:Pipelines:api:AttemptTimeout:Timeout (00:00:20), or no attempt could run its course; was 00:00:15.",
            ],
            failure.Failures);
    }

    [Fact]
    public void Retries_whose_delays_outlast_the_total_timeout_fail_the_start_and_a_reload_that_makes_them_so_is_rejected()
    {
        // Five retries from 2 s, doubling, capped at 30 s: 2 + 4 + 8 + 16 + 30 = 60 s, against a total timeout of 30 s.
        using var failing = Container(new TimerLogTimeProvider(), configuration: Settings(("Retry:MaxRetryAttempts", "5")));

        var failure = Assert.Throws<OptionsValidationException>(() => Provider(failing));

        Assert.Equal(
            [
                "Resilience:Pipelines:api:Retry:MaxRetryAttempts, Delay and MaxDelay (5, 00:00:02, 00:00:30) give delays adding up to 00:01:00 without jitter; they must add up to less than Resilience:Pipelines:api:TotalTimeout:Timeout (00:00:30), or the total timeout would end every failing request before its last retry.",
            ],
            failure.Failures);

        // The standard four retries wait 2 + 4 + 8 + 16 = 30 s: not less than 30 s, so a reload to them is rejected, and a
        // total timeout raised with them applies.
        var configuration = Settings();
        using var container = Container(new TimerLogTimeProvider(), configuration: configuration);
        var retry = Strategy<RetryStrategy>(container, 3);

        configuration[Section + "Retry:MaxRetryAttempts"] = "4";
        configuration.Reload();

        Assert.False(Provider(container).LastReload!.IsApplied);
        Assert.Equal(3, retry.Options.MaxRetryAttempts);

        configuration[Section + "TotalTimeout:Timeout"] = "00:00:31";
        configuration.Reload();

        Assert.True(Provider(container).LastReload!.IsApplied, Provider(container).LastReload!.ToString());
        Assert.Equal(4, retry.Options.MaxRetryAttempts);
    }

    [Fact]
    public void A_reload_that_makes_the_options_disagree_is_rejected_and_the_last_good_settings_stay()
    {
        var configuration = Settings();
        using var container = Container(new TimerLogTimeProvider(), configuration: configuration);
        var attempt = Strategy<TimeoutStrategy>(container, 5);

        configuration[Section + "AttemptTimeout:Timeout"] = "00:00:20";
        configuration.Reload();

        var reload = Provider(container).LastReload!;
        Assert.False(reload.IsApplied);
        Assert.Equal(
            [
                "Resilience:Pipelines:api:CircuitBreaker:SamplingDuration must be at least twice Resilience:Pipelines:api:AttemptTimeout:Timeout (00:00:40), so that the breaker's window holds several attempts; was 00:00:30.",
            ],
            reload.Errors);
        Assert.Equal(AttemptTimeout, attempt.Timeout);

        // The breaker's window widened with it: the pair agrees and applies.
        configuration[Section + "CircuitBreaker:SamplingDuration"] = "00:00:40";
        configuration.Reload();

        Assert.True(Provider(container).LastReload!.IsApplied, Provider(container).LastReload!.ToString());
        Assert.Equal(TimeSpan.FromSeconds(20), attempt.Timeout);
    }

    [Fact]
    public async Task A_reload_lowers_the_breakers_threshold_and_the_failures_already_counted_stay()
    {
        await using var server = await LoopbackServer.StartAsync((context, _) => LoopbackServer.Status(context, 503, "busy"));
        var configuration = Settings(("CircuitBreaker:MinimumThroughput", "10"), ("Retry:MaxRetryAttempts", "0"));
        using var container = Container(new TimerLogTimeProvider(), server, configuration);
        var client = Client(container);
        for (var i = 0; i < 3; i++)
        {
            using var response = await client.GetAsync("/items");
        }

        var breaker = Strategy<CircuitBreakerStrategy>(container, 4).Breaker;
        Assert.Equal((CircuitState.Closed, 3L, 3L), (breaker.State, breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));

        configuration[Section + "CircuitBreaker:MinimumThroughput"] = "4";
        configuration.Reload();
        Assert.True(Provider(container).LastReload!.IsApplied, Provider(container).LastReload!.ToString());
        Assert.Same(breaker, Strategy<CircuitBreakerStrategy>(container, 4).Breaker);
        Assert.Equal((CircuitState.Closed, 3L, 3L), (breaker.State, breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));

        // The window kept its three failures: the fourth reaches the new threshold and opens the breaker.
        using (var fourth = await client.GetAsync("/items"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, fourth.StatusCode);
        }

        await Assert.ThrowsAsync<BrokenCircuitException>(() => client.GetAsync("/items"));
        Assert.Equal(4, server.Requests);
        Assert.Equal((CircuitState.Open, 4), (breaker.State, breaker.Options.MinimumThroughput));
    }

    [Fact]
    public void A_null_builder_or_an_empty_name_is_refused_and_the_name_is_taken()
    {
        var services = new ServiceCollection();
        var builder = services.AddHttpClient("api");

        Assert.Throws<ArgumentNullException>("builder", () => ((IHttpClientBuilder)null!).AddStandardResilienceHandler("api"));
        Assert.Throws<ArgumentException>("name", () => builder.AddStandardResilienceHandler(""));
        builder.AddStandardResilienceHandler("api");
        Assert.Throws<ArgumentException>(() => services.AddHttpClient("other").AddStandardResilienceHandler("API"));
    }
}
