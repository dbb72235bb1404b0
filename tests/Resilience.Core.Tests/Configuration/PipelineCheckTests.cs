using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Resilience.DependencyInjection;
using Resilience.Tests.DependencyInjection;

namespace Resilience.Tests.Configuration;

/// <summary>
/// Checks of two bound sections taken together (<see cref="ResiliencePipelineContext.AddCheck{TFirst, TSecond}"/>): run on
/// every reading, they fail the start, reject a reload or a push as a whole, and stay quiet when a section has errors of its own.
/// </summary>
public sealed class PipelineCheckTests
{
    private const string Outer = "Resilience:Pipelines:orders:Outer:";
    private const string Inner = "Resilience:Pipelines:orders:Inner:";

    /// <summary>An outer timeout that must be at least as long as the inner one, checked by the pipeline's code.</summary>
    private static TestContainer Orders(Dictionary<string, string?>? settings = null) =>
        new(settings ?? [], services => services.AddResiliencePipeline("orders", (builder, context) =>
        {
            builder
                .AddStrategy(context.BindTimeout("Outer", o => o.Timeout = TimeSpan.FromSeconds(30)))
                .AddStrategy(context.BindTimeout("Inner", o => o.Timeout = TimeSpan.FromSeconds(10)));
            var path = context.SectionPath;
            context.AddCheck<TimeoutOptions, TimeoutOptions>("Outer", "Inner", (outer, inner) =>
                outer.Timeout >= inner.Timeout ? null : $"{path}:Outer:Timeout must be at least {path}:Inner:Timeout ({inner.Timeout}); was {outer.Timeout}.");
        }));

    private static TimeSpan[] Timeouts(ResiliencePipeline pipeline) => [.. pipeline.Strategies.OfType<TimeoutStrategy>().Select(timeout => timeout.Timeout)];

    [Fact]
    public void A_start_whose_sections_disagree_fails_with_the_checks_message_among_the_others()
    {
        using var container = Orders(new() { [Inner + "Timeout"] = "00:01:00", ["Resilience:Pipelines:orders:Timout:Timeout"] = "00:00:01" });

        var failures = Assert.Throws<OptionsValidationException>(() => container.Provider).Failures;

        Assert.Equal(
            [
                "Resilience:Pipelines:orders:Timout is not bound by the code of pipeline 'orders' (bound: Outer, Inner).",
                "Resilience:Pipelines:orders:Outer:Timeout must be at least Resilience:Pipelines:orders:Inner:Timeout (00:01:00); was 00:00:30.",
            ],
            failures);
    }

    [Fact]
    public void A_reload_that_breaks_the_check_is_rejected_logged_and_counted_and_the_last_good_settings_stay()
    {
        using var container = Orders();
        using var reloads = container.Reloads();
        var pipeline = container.Provider.GetPipeline("orders");
        Assert.Equal([TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(10)], Timeouts(pipeline));

        container.Change((Outer + "Timeout", "00:00:05"));

        var rejected = container.Provider.LastReload!;
        Assert.False(rejected.IsApplied);
        Assert.Equal(["Resilience:Pipelines:orders:Outer:Timeout must be at least Resilience:Pipelines:orders:Inner:Timeout (00:00:10); was 00:00:05."], rejected.Errors);
        Assert.Equal("rejected", reloads.LastMeasurement!.Tags["result"]);
        var log = container.Logs.Collector.LatestRecord;
        Assert.Equal((LogLevel.Error, "ReloadRejected"), (log.Level, log.Id.Name));
        Assert.Equal([TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(10)], Timeouts(pipeline));
        Assert.False(container.Provider.GetHealth().IsHealthy);

        // Both sections changed together agree again: applied.
        container.Change((Outer + "Timeout", "00:00:05"), (Inner + "Timeout", "00:00:02"));

        Assert.True(container.Provider.LastReload!.IsApplied, container.Provider.LastReload.ToString());
        Assert.Equal([TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(2)], Timeouts(pipeline));
        Assert.Equal(["rejected", "applied"], reloads.GetMeasurementSnapshot().Select(m => (string)m.Tags["result"]!));
    }

    [Fact]
    public void Options_pushed_by_code_that_break_the_check_are_rejected()
    {
        using var container = Orders();
        var pipeline = container.Provider.GetPipeline("orders");

        var result = container.Provider.UpdateOptions("Pipelines:orders:Inner", new TimeoutOptions { Timeout = TimeSpan.FromMinutes(1) });

        Assert.False(result.IsApplied);
        Assert.Equal(["Resilience:Pipelines:orders:Outer:Timeout must be at least Resilience:Pipelines:orders:Inner:Timeout (00:01:00); was 00:00:30."], result.Errors);
        Assert.Equal([TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(10)], Timeouts(pipeline));
    }

    [Fact]
    public void A_section_with_an_error_of_its_own_gives_that_error_alone()
    {
        using var container = Orders();
        container.Provider.GetPipeline("orders");

        // Against the inner timeout in force (10 s), the outer one would be too short; the inner one's own error is what to fix.
        container.Change((Inner + "Timeout", "-00:00:01"), (Outer + "Timeout", "00:00:05"));

        Assert.Equal(["Resilience:Pipelines:orders:Inner:Timeout must be in [00:00:00.0010000, 1.00:00:00]; was -00:00:01."], container.Provider.LastReload!.Errors);
    }

    [Fact]
    public void The_section_path_names_keys_as_messages_do_with_or_without_configuration()
    {
        string? withConfiguration = null;
        string? withoutConfiguration = null;
        string? ownRoot = null;
        using (var container = new TestContainer(new Dictionary<string, string?>(), services => services.AddResiliencePipeline("orders", (_, context) => withConfiguration = context.SectionPath)))
        {
            _ = container.Provider;
        }

        var services = new ServiceCollection();
        services.AddResiliencePipeline("orders", (_, context) => withoutConfiguration = context.SectionPath);
        using (var provider = services.BuildServiceProvider())
        {
            _ = provider.GetRequiredService<ResiliencePipelineProvider>();
        }

        services = new ServiceCollection();
        services.AddResilience(new ConfigurationBuilder().AddInMemoryCollection([]).Build()).AddPipeline("orders", (_, context) => ownRoot = context.SectionPath);
        using (var provider = services.BuildServiceProvider())
        {
            _ = provider.GetRequiredService<ResiliencePipelineProvider>();
        }

        Assert.Equal(("Resilience:Pipelines:orders", "Resilience:Pipelines:orders", "Pipelines:orders"), (withConfiguration, withoutConfiguration, ownRoot));
    }

    [Fact]
    public void A_check_is_refused_without_sections_or_a_delegate()
    {
        ArgumentException? noSection = null;
        ArgumentException? noCheck = null;
        var services = new ServiceCollection();
        services.AddResiliencePipeline("orders", (_, context) =>
        {
            noSection = Assert.ThrowsAny<ArgumentException>(() => context.AddCheck<TimeoutOptions, TimeoutOptions>("", "Inner", (_, _) => null));
            noCheck = Assert.Throws<ArgumentNullException>(() => context.AddCheck<TimeoutOptions, TimeoutOptions>("Outer", "Inner", null!));
        });
        using var provider = services.BuildServiceProvider();
        _ = provider.GetRequiredService<ResiliencePipelineProvider>();

        Assert.Equal(("firstSection", "check"), (noSection?.ParamName, noCheck?.ParamName));
    }
}
