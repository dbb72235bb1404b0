namespace Resilience.Configuration;

/// <summary>The typed form, for one result type, of a pipeline declared in configuration.</summary>
/// <typeparam name="T">The result type.</typeparam>
internal sealed class TypedVariant<T> : IPipelineVariant
{
    private readonly ResiliencePipeline<T> _pipeline;
    private readonly string _name;

    public TypedVariant(ResilienceRuntime runtime, string name, IReadOnlyList<ResilienceStrategy> strategies)
    {
        _name = name;
        _pipeline = Build(runtime, strategies);
    }

    public object Pipeline => _pipeline;

    public IReadOnlyList<ResilienceStrategy> Strategies => _pipeline.Strategies;

    public void Rebuild(ResilienceRuntime runtime, IReadOnlyList<ResilienceStrategy> strategies) =>
        _pipeline.Replace(Build(runtime, strategies).Core);

    private ResiliencePipeline<T> Build(ResilienceRuntime runtime, IReadOnlyList<ResilienceStrategy> strategies)
    {
        var builder = runtime.Prepare(new ResiliencePipelineBuilder<T>(), _name);
        foreach (var strategy in strategies)
        {
            builder.AddStrategy(strategy);
        }

        return builder.Build();
    }
}
