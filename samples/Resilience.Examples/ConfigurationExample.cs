using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Resilience.DependencyInjection;

namespace Resilience.Examples;

/// <summary>
/// A pipeline declared in configuration, served by <c>services.AddResilience()</c>; a hot reload that changes a
/// threshold while the breaker keeps its state; a bad reload rejected as a whole.
/// </summary>
public sealed class ConfigurationExample : IExample
{
    private const string Breaker = "Resilience:Pipelines:orders:CircuitBreaker:";

    /// <inheritdoc />
    public string Name => "configuration";

    /// <inheritdoc />
    public string Summary => "AddResilience() with a pipeline from configuration, a hot reload, a bad reload rejected";

    /// <inheritdoc />
    public async Task RunAsync(TextWriter output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);

        // In an application these keys come from appsettings.json (reloadOnChange), the environment or a remote store.
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Resilience:Pipelines:orders:Strategies:0"] = "CircuitBreaker",
            ["Resilience:Pipelines:orders:Strategies:1"] = "Timeout",
            [Breaker + "FailureRatio"] = "0.5",
            [Breaker + "MinimumThroughput"] = "10",
            [Breaker + "BreakDuration"] = "00:00:30",
            ["Resilience:Pipelines:orders:Timeout:Timeout"] = "00:00:01",
        }).Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
        services.AddResilience();
        await using var container = services.BuildServiceProvider();
        var provider = container.GetRequiredService<ResiliencePipelineProvider>();

        var pipeline = provider.GetPipeline("orders");
        var breaker = pipeline.Strategies.OfType<CircuitBreakerStrategy>().Single().Breaker;
        output.WriteLine($"Pipeline 'orders' from configuration runs: {string.Join(", ", provider.GetHealth().Pipelines.Single(p => p.Name == "orders").Strategies)}.");
        output.WriteLine($"Its breaker '{breaker.Name}' opens at FailureRatio {breaker.Options.FailureRatio} over at least {breaker.Options.MinimumThroughput} calls.");

        var orders = new SimulatedDependency("orders") { IsHealthy = false };
        for (var call = 0; call < 3; call++)
        {
            await pipeline.ExecuteOutcomeAsync(static (s, ct) => s.CallAsync("order", ct), orders, cancellationToken);
        }

        output.WriteLine($"After 3 failed calls: {Describe(breaker)}");

        output.WriteLine("The configuration changes MinimumThroughput to 4 and signals a reload.");
        configuration[Breaker + "MinimumThroughput"] = "4";
        configuration.Reload();
        var reload = provider.LastReload!;
        output.WriteLine($"Reload {(reload.IsApplied ? "applied" : "rejected")}: {reload.UpdatedStrategies} live strategy updated in place, {reload.RebuiltPipelines} pipelines rebuilt.");
        output.WriteLine($"Same breaker: {ReferenceEquals(breaker, provider.GetPipeline("orders").Strategies.OfType<CircuitBreakerStrategy>().Single().Breaker)}; it kept its window: {Describe(breaker)}");

        await pipeline.ExecuteOutcomeAsync(static (s, ct) => s.CallAsync("order", ct), orders, cancellationToken);
        output.WriteLine($"One more failed call reaches the new threshold: {Describe(breaker)}");

        output.WriteLine("A bad change arrives: FailureRatio 1.5 and MinimumThroughput 2.");
        configuration[Breaker + "FailureRatio"] = "1.5";
        configuration[Breaker + "MinimumThroughput"] = "2";
        configuration.Reload();
        reload = provider.LastReload!;
        output.WriteLine($"Reload {(reload.IsApplied ? "applied" : "rejected")} as a whole:");
        foreach (var error in reload.Errors)
        {
            output.WriteLine($"  {error}");
        }

        output.WriteLine($"The last good settings stay in force: FailureRatio {breaker.Options.FailureRatio}, MinimumThroughput {breaker.Options.MinimumThroughput}.");
        var health = provider.GetHealth();
        output.WriteLine($"The health view reports {(health.IsHealthy ? "healthy" : "unhealthy")}; its last reload was {(health.LastReload!.IsApplied ? "applied" : "rejected")}.");
    }

    private static string Describe(CircuitBreaker breaker)
    {
        var window = breaker.GetSnapshot();
        return $"{breaker.State}, generation {window.Generation}, {window.Calls} calls and {window.Failures} failures in the window.";
    }
}
