using Resilience.Telemetry;

namespace Resilience;

/// <summary>What a built pipeline holds: its strategies and, per strategy, the predicate that judges outcomes.</summary>
internal sealed class PipelineCore
{
    public PipelineCore(
        string? name, TimeProvider timeProvider, ResilienceStrategy[] strategies, Delegate?[] predicates, bool typedPredicates, TelemetryStrategy? telemetry = null, Delegate? retryAfterHint = null)
        : this(name, timeProvider, strategies, predicates, typedPredicates, telemetry, retryAfterHint, quiet: null)
    {
        if (telemetry is not null)
        {
            // The same pipeline without its telemetry strategy (always outermost), run while nobody listens to call
            // counts or durations: telemetry then costs one check per call instead of a strategy's pass.
            Quiet = new PipelineCore(name, timeProvider, strategies[1..], predicates[1..], typedPredicates, telemetry, retryAfterHint, quiet: null);
        }
    }

    private PipelineCore(
        string? name, TimeProvider timeProvider, ResilienceStrategy[] strategies, Delegate?[] predicates, bool typedPredicates, TelemetryStrategy? telemetry, Delegate? retryAfterHint, PipelineCore? quiet)
    {
        RetryAfterHint = retryAfterHint;
        Telemetry = telemetry;
        Quiet = quiet;
        Name = name;
        TimeProvider = timeProvider;
        Strategies = strategies;
        Predicates = predicates;
        TypedPredicates = typedPredicates;
        RejectionSources = Array.ConvertAll(strategies, strategy => new RejectionSource(strategy, name));
    }

    /// <summary>Gets the telemetry told of rejections, waits, retries and fallbacks inside the pipeline, if instrumented.</summary>
    public TelemetryStrategy? Telemetry { get; }

    /// <summary>Gets, for an instrumented pipeline, the same pipeline without its telemetry strategy.</summary>
    public PipelineCore? Quiet { get; }

    /// <summary>Per strategy: what a rejection by it refers to.</summary>
    public RejectionSource[] RejectionSources { get; }

    public string? Name { get; }

    public TimeProvider TimeProvider { get; }

    public ResilienceStrategy[] Strategies { get; }

    /// <summary>Per strategy: null (default rule), a <c>Func&lt;Exception, bool&gt;</c>, or for a typed pipeline a <c>Func&lt;Outcome&lt;T&gt;, bool&gt;</c>.</summary>
    public Delegate?[] Predicates { get; }

    /// <summary>Whether <see cref="Predicates"/> judge <see cref="Outcome{T}"/> values of the pipeline's result type.</summary>
    public bool TypedPredicates { get; }

    /// <summary>
    /// Null, a <c>Func&lt;Exception, TimeSpan?&gt;</c>, or for a typed pipeline a <c>Func&lt;Outcome&lt;T&gt;, TimeSpan?&gt;</c>:
    /// reads the retry-after hint of a handled failure.
    /// </summary>
    public Delegate? RetryAfterHint { get; }
}
