using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Resilience.Tests.DependencyInjection;

namespace Resilience.Tests.Configuration;

/// <summary>
/// Hooks (<see cref="RetryOptions.OnRetry"/>, <see cref="RetryOptions.DelayGenerator"/>,
/// <see cref="TimeoutOptions.OnTimeout"/>) are code: the options a pipeline's code binds keep them through every reload,
/// options pushed by code keep the code's, and neither configuration nor a push can bring one that a later reload would drop.
/// </summary>
public class HookReloadTests
{
    private const string Retry = "Resilience:Pipelines:orders:Retry:";

    private static ResiliencePipeline Orders(TestContainer container) => container.Provider.GetPipeline("orders");

    private static TestContainer CodePipeline(List<RetryScheduled> retries, List<TimeoutExpired> timeouts, Dictionary<string, string?>? settings = null) =>
        new(
            settings ?? new Dictionary<string, string?> { [Retry + "MaxRetryAttempts"] = "1", [Retry + "Delay"] = "00:00:00" },
            services => services.AddResiliencePipeline("orders", (builder, context) => builder
                .AddStrategy(context.BindRetry(configure: options =>
                {
                    options.OnRetry = retries.Add;
                    options.DelayGenerator = static _ => TimeSpan.Zero;
                }))
                .AddStrategy(context.BindTimeout(configure: options => options.OnTimeout = timeouts.Add))));

    private static async ValueTask<int> WaitForCancellation(CancellationToken token)
    {
        await Task.Delay(System.Threading.Timeout.InfiniteTimeSpan, token);
        return 0;
    }

    private static int FailingCall(ResiliencePipeline pipeline)
    {
        var attempts = 0;
        pipeline.ExecuteOutcome<int, int>((_, _) => { attempts++; throw new IOException(); }, 0);
        return attempts;
    }

    [Fact]
    public async Task The_hooks_a_pipelines_code_binds_stay_through_a_reload_of_their_sections()
    {
        var retries = new List<RetryScheduled>();
        var timeouts = new List<TimeoutExpired>();
        using var container = CodePipeline(retries, timeouts);
        var pipeline = Orders(container);

        container.Change((Retry + "MaxRetryAttempts", "2"), ("Resilience:Pipelines:orders:Timeout:Timeout", "00:00:01"));

        Assert.Equal((true, 2), (container.Provider.LastReload!.IsApplied, container.Provider.LastReload.UpdatedStrategies));
        Assert.Equal(3, FailingCall(pipeline));
        Assert.Equal([1, 2], retries.Select(retry => retry.RetryNumber));
        Assert.Equal(TimeSpan.Zero, Assert.Single(retries.Select(retry => retry.Delay).Distinct()));

        // The first attempt times out, the retry's second succeeds.
        var attempts = 0;
        var call = pipeline.ExecuteOutcomeAsync((_, token) => attempts++ == 0 ? WaitForCancellation(token) : new ValueTask<int>(attempts), 0).AsTask();
        container.Time.Advance(TimeSpan.FromSeconds(1) + TimeSpan.FromSeconds(1.0 / 16));

        Assert.Equal(2, (await call.WaitAsync(TimeSpan.FromSeconds(30))).Result);
        Assert.Equal([new TimeoutExpired("orders", "orders/Timeout", TimeSpan.FromSeconds(1))], timeouts);
        Assert.IsType<TimeoutRejectedException>(retries[^1].Failure);
    }

    [Fact]
    public void A_reload_that_changes_nothing_of_a_strategy_with_hooks_does_not_update_it()
    {
        // The code's delegate runs again on every reading and makes new delegates: equal ones are the same settings.
        using var container = CodePipeline([], []);
        Orders(container);

        container.Change(("Resilience:Pipelines:orders:Timeout:Timeout", "00:00:05"));

        Assert.Equal((true, 1), (container.Provider.LastReload!.IsApplied, container.Provider.LastReload.UpdatedStrategies));
    }

    [Fact]
    public void Options_pushed_without_hooks_keep_the_hooks_the_code_sets()
    {
        var retries = new List<RetryScheduled>();
        var timeouts = new List<TimeoutExpired>();
        using var container = CodePipeline(retries, timeouts);
        var pipeline = Orders(container);

        var pushed = container.Provider.UpdateOptions("Pipelines:orders:Retry", new RetryOptions { MaxRetryAttempts = 2, Delay = TimeSpan.Zero });
        var pushedTimeout = container.Provider.UpdateOptions("Pipelines:orders:Timeout", new TimeoutOptions { Timeout = TimeSpan.FromSeconds(2) });

        Assert.True(pushed.IsApplied, string.Join('\n', pushed.Errors));
        Assert.True(pushedTimeout.IsApplied, string.Join('\n', pushedTimeout.Errors));
        Assert.Equal(3, FailingCall(pipeline));
        Assert.Equal([1, 2], retries.Select(retry => retry.RetryNumber));
        var retry = pipeline.Strategies.OfType<RetryStrategy>().Single();
        Assert.NotNull(retry.Options.OnRetry);
        Assert.NotNull(retry.Options.DelayGenerator);

        // The options in force, changed and pushed back, carry the code's own hooks: accepted.
        var options = retry.Options;
        options.MaxRetryAttempts = 3;
        Assert.True(container.Provider.UpdateOptions("Pipelines:orders:Retry", options).IsApplied);
        retries.Clear();
        Assert.Equal(4, FailingCall(pipeline));
        Assert.Equal([1, 2, 3], retries.Select(retry => retry.RetryNumber));
    }

    [Fact]
    public void A_push_that_brings_hooks_of_its_own_is_refused_naming_them()
    {
        var retries = new List<RetryScheduled>();
        using var container = CodePipeline(retries, []);
        var pipeline = Orders(container);

        var result = container.Provider.UpdateOptions("Pipelines:orders:Retry", new RetryOptions { MaxRetryAttempts = 5, OnRetry = _ => { }, DelayGenerator = _ => null });

        Assert.False(result.IsApplied);
        Assert.Equal(
            [
                "Resilience:Pipelines:orders:Retry:DelayGenerator cannot be pushed (its code sets another): hooks are set by the code that declares a strategy, so that no reload drops them; leave it unset in pushed options, which then keep the code's.",
                "Resilience:Pipelines:orders:Retry:OnRetry cannot be pushed (its code sets another): hooks are set by the code that declares a strategy, so that no reload drops them; leave it unset in pushed options, which then keep the code's.",
            ],
            result.Errors.Order(StringComparer.Ordinal));
        Assert.Equal(2, FailingCall(pipeline));
        Assert.Equal([1], retries.Select(retry => retry.RetryNumber));
    }

    [Fact]
    public void A_strategy_declared_in_configuration_takes_no_hook_from_a_push_which_its_next_reload_would_drop()
    {
        using var container = new TestContainer(new Dictionary<string, string?>
        {
            ["Resilience:Pipelines:orders:Strategies:0"] = "Retry",
            ["Resilience:Pipelines:orders:Strategies:1"] = "Timeout",
            [Retry + "Delay"] = "00:00:00",
        });
        Orders(container);

        var refused = container.Provider.UpdateOptions("Pipelines:orders:Timeout", new TimeoutOptions { OnTimeout = _ => { } });
        var applied = container.Provider.UpdateOptions("Pipelines:orders:Retry", new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.Zero });

        Assert.Equal(
            ["Resilience:Pipelines:orders:Timeout:OnTimeout cannot be pushed (no code sets one for it): hooks are set by the code that declares a strategy, so that no reload drops them; leave it unset in pushed options, which then keep the code's."],
            refused.Errors);
        Assert.True(applied.IsApplied);
        Assert.Equal(2, FailingCall(Orders(container)));
    }

    [Fact]
    public void Configuration_cannot_set_a_hook()
    {
        var error = Assert.Throws<OptionsValidationException>(() =>
        {
            using var container = CodePipeline([], [], new Dictionary<string, string?> { [Retry + "OnRetry"] = "Log" });
            Orders(container);
        });

        Assert.Contains(error.Failures, failure => failure.Contains(Retry + "OnRetry", StringComparison.Ordinal));
    }
}
