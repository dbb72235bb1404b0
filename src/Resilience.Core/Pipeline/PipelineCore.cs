namespace Resilience;

/// <summary>What a built pipeline holds: its strategies and, per strategy, the predicate that judges outcomes.</summary>
internal sealed class PipelineCore
{
    public PipelineCore(string? name, TimeProvider timeProvider, ResilienceStrategy[] strategies, Delegate?[] predicates, bool typedPredicates, IPipelineObserver? observer = null)
    {
        Observer = observer;
        Name = name;
        TimeProvider = timeProvider;
        Strategies = strategies;
        Predicates = predicates;
        TypedPredicates = typedPredicates;
        RejectionSources = Array.ConvertAll(strategies, strategy => new RejectionSource(strategy, name));
    }

    /// <summary>Told of rejections, waits, retries and fallbacks inside the pipeline (its telemetry), if anything.</summary>
    public IPipelineObserver? Observer { get; }

    /// <summary>Per strategy: what a rejection by it refers to.</summary>
    public RejectionSource[] RejectionSources { get; }

    public string? Name { get; }

    public TimeProvider TimeProvider { get; }

    public ResilienceStrategy[] Strategies { get; }

    /// <summary>Per strategy: null (default rule), a <c>Func&lt;Exception, bool&gt;</c>, or for a typed pipeline a <c>Func&lt;Outcome&lt;T&gt;, bool&gt;</c>.</summary>
    public Delegate?[] Predicates { get; }

    /// <summary>Whether <see cref="Predicates"/> judge <see cref="Outcome{T}"/> values of the pipeline's result type.</summary>
    public bool TypedPredicates { get; }
}
