namespace Resilience.Examples;

/// <summary>A degradation chain: a secondary service, then the last known good value, then a placeholder.</summary>
public sealed class FallbackExample : IExample
{
    /// <inheritdoc />
    public string Name => "fallback";

    /// <inheritdoc />
    public string Summary => "a degradation chain (secondary, last known good, placeholder) and which level served";

    /// <inheritdoc />
    public async Task RunAsync(TextWriter output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        var catalog = new SimulatedDependency("catalog");
        var replica = new SimulatedDependency("catalog-replica");
        var lastGood = new LastKnownGood<string, string>(maxAge: TimeSpan.FromMinutes(10), capacity: 1_000);
        var pipeline = new ResiliencePipelineBuilder<string> { Name = "catalog" }
            .AddFallback(new FallbackOptions<string>
            {
                Levels =
                {
                    new FallbackLevel<string>("replica", a => replica.CallAsync((string)a.State!, a.CancellationToken), tryNextOnFailure: true),
                    lastGood.AsLevel(state => (string)state!, name: "cache"),   // records every success, serves it while younger than 10 min
                    FallbackLevel<string>.FromValue("placeholder", "product details unavailable"),
                },
                OnServed = served => output.WriteLine($"  Level {served.Level} '{served.LevelName}' replaced: {served.Failure?.Message}"),
            })
            .AddTimeout(TimeSpan.FromSeconds(1))
            .Build();
        output.WriteLine("Chain: the catalog service, else its replica, else the last answer (cache), else a placeholder.");

        var levels = pipeline.Strategies.OfType<FallbackStrategy<string>>().Single().Levels;
        async Task GetAsync(string product)
        {
            // The product is the call's state: the fallback levels see it too, and the cache uses it as its key.
            var outcome = await pipeline.ExecuteOutcomeAsync((id, ct) => catalog.CallAsync(id, ct), product, cancellationToken);
            var servedBy = outcome.FallbackLevel is { } level ? $"fallback level {level} '{levels[level].Name}'" : "the catalog service";
            output.WriteLine($"{product}: \"{outcome.Result}\", served by {servedBy}.");
        }

        await GetAsync("product 1");
        output.WriteLine("The catalog service goes down; its replica answers.");
        catalog.IsHealthy = false;
        await GetAsync("product 1");
        output.WriteLine("The replica goes down too.");
        replica.IsHealthy = false;
        await GetAsync("product 1");
        await GetAsync("product 2");
        output.WriteLine($"The cache holds {lastGood.Count} product: only product 1 was ever answered by the catalog service.");
    }
}
