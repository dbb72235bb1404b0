namespace Resilience.Configuration;

/// <summary>
/// One built form of a pipeline declared in configuration (untyped, or typed for one result type): the instance callers
/// hold, rebuilt in place when the pipeline's strategies change.
/// </summary>
internal sealed class PipelineVariant
{
    private readonly Func<IReadOnlyList<ResilienceStrategy>, PipelineCore> _build;
    private readonly Action<PipelineCore> _replace;
    private PipelineCore _core;

    private PipelineVariant(object pipeline, PipelineCore core, Func<IReadOnlyList<ResilienceStrategy>, PipelineCore> build, Action<PipelineCore> replace)
    {
        Pipeline = pipeline;
        _core = core;
        _build = build;
        _replace = replace;
    }

    /// <summary>Gets the pipeline instance callers hold.</summary>
    public object Pipeline { get; }

    /// <summary>Gets the pipeline's strategies in service, outermost first.</summary>
    public IReadOnlyList<ResilienceStrategy> Strategies => _core.Strategies;

    public static PipelineVariant Untyped(ResilienceRuntime runtime, string name, IReadOnlyList<ResilienceStrategy> strategies, string? instanceKey = null)
    {
        ResiliencePipeline Build(IReadOnlyList<ResilienceStrategy> list) => Fill(runtime.Prepare(new ResiliencePipelineBuilder(), name, instanceKey), list).Build();
        var pipeline = Build(strategies);
        return new(pipeline, pipeline.Core, list => Build(list).Core, pipeline.Replace);
    }

    public static PipelineVariant Typed<T>(ResilienceRuntime runtime, string name, IReadOnlyList<ResilienceStrategy> strategies, string? instanceKey = null)
    {
        ResiliencePipeline<T> Build(IReadOnlyList<ResilienceStrategy> list) => Fill(runtime.Prepare(new ResiliencePipelineBuilder<T>(), name, instanceKey), list).Build();
        var pipeline = Build(strategies);
        return new(pipeline, pipeline.Core, list => Build(list).Core, pipeline.Replace);
    }

    /// <summary>Replaces the pipeline's strategies in place: the instance stays, calls in flight finish on the old ones.</summary>
    public void Rebuild(IReadOnlyList<ResilienceStrategy> strategies)
    {
        _core = _build(strategies);
        _replace(_core);
    }

    private static TBuilder Fill<TBuilder>(TBuilder builder, IReadOnlyList<ResilienceStrategy> strategies)
        where TBuilder : ResiliencePipelineBuilderBase
    {
        foreach (var strategy in strategies)
        {
            builder.AddStrategy(strategy);
        }

        return builder;
    }
}
