namespace Resilience.Configuration;

/// <summary>The untyped form of a pipeline declared in configuration.</summary>
internal sealed class UntypedVariant : IPipelineVariant
{
    private readonly ResiliencePipeline _pipeline;
    private readonly string _name;

    public UntypedVariant(ResilienceRuntime runtime, string name, IReadOnlyList<ResilienceStrategy> strategies)
    {
        _name = name;
        _pipeline = Build(runtime, strategies);
    }

    public object Pipeline => _pipeline;

    public IReadOnlyList<ResilienceStrategy> Strategies => _pipeline.Strategies;

    public void Rebuild(ResilienceRuntime runtime, IReadOnlyList<ResilienceStrategy> strategies) =>
        _pipeline.Replace(Build(runtime, strategies).Core);

    private ResiliencePipeline Build(ResilienceRuntime runtime, IReadOnlyList<ResilienceStrategy> strategies)
    {
        var builder = runtime.Prepare(new ResiliencePipelineBuilder(), _name);
        foreach (var strategy in strategies)
        {
            builder.AddStrategy(strategy);
        }

        return builder.Build();
    }
}
