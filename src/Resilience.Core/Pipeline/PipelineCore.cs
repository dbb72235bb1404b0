using Resilience.Telemetry;

namespace Resilience;

/// <summary>What a built pipeline holds: its strategies and, per strategy, the predicate that judges outcomes.</summary>
internal sealed class PipelineCore
{
    private PipelineCore? _singleAttempt;
    private PipelineCore? _withoutRetries;

    public PipelineCore(
        string? name, TimeProvider timeProvider, ResilienceStrategy[] strategies, Delegate?[] predicates, bool typedPredicates, TelemetryStrategy? telemetry = null, Delegate? retryAfterHint = null)
        : this(name, timeProvider, strategies, predicates, typedPredicates, telemetry, retryAfterHint, CallShape.Any)
    {
    }

    private PipelineCore(
        string? name, TimeProvider timeProvider, ResilienceStrategy[] strategies, Delegate?[] predicates, bool typedPredicates, TelemetryStrategy? telemetry, Delegate? retryAfterHint, CallShape shape)
        : this(name, timeProvider, strategies, predicates, typedPredicates, telemetry, retryAfterHint, quiet: null, shape)
    {
        if (telemetry is not null)
        {
            // The same pipeline without its telemetry strategy (always outermost), run while nobody listens to call
            // counts or durations: telemetry then costs one check per call instead of a strategy's pass.
            Quiet = new PipelineCore(name, timeProvider, strategies[1..], predicates[1..], typedPredicates, telemetry, retryAfterHint, quiet: null, shape);
        }
    }

    private PipelineCore(
        string? name, TimeProvider timeProvider, ResilienceStrategy[] strategies, Delegate?[] predicates, bool typedPredicates, TelemetryStrategy? telemetry, Delegate? retryAfterHint, PipelineCore? quiet, CallShape shape)
    {
        RetryAfterHint = retryAfterHint;
        Telemetry = telemetry;
        Quiet = quiet;
        IsSingleAttempt = shape == CallShape.SingleAttempt;
        RefusesRetries = shape != CallShape.Any;
        Name = name;
        TimeProvider = timeProvider;
        Strategies = strategies;
        IsEmpty = strategies.Length == 0;
        FitsPair = strategies.Length <= SlotPair.Length;
        Predicates = predicates;
        HasPredicates = Array.Exists(predicates, predicate => predicate is not null);
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

    /// <summary>
    /// Gets whether the pipeline has no strategies: a field of its own, which every call reads first, one load from the
    /// pipeline rather than two (through the strategies' array) ahead of everything the call does.
    /// </summary>
    public bool IsEmpty { get; }

    /// <summary>
    /// Gets whether the pipeline's strategies fit the fast path's two inline slots (the common case): read by every call
    /// as it starts, one load from the pipeline rather than two through the strategies' array.
    /// </summary>
    public bool FitsPair { get; }

    /// <summary>Per strategy: null (default rule), a <c>Func&lt;Exception, bool&gt;</c>, or for a typed pipeline a <c>Func&lt;Outcome&lt;T&gt;, bool&gt;</c>.</summary>
    public Delegate?[] Predicates { get; }

    /// <summary>Gets whether any strategy has a predicate (otherwise every strategy judges by the default rule).</summary>
    public bool HasPredicates { get; }

    /// <summary>Whether <see cref="Predicates"/> judge <see cref="Outcome{T}"/> values of the pipeline's result type.</summary>
    public bool TypedPredicates { get; }

    /// <summary>
    /// Null, a <c>Func&lt;Exception, TimeSpan?&gt;</c>, or for a typed pipeline a <c>Func&lt;Outcome&lt;T&gt;, TimeSpan?&gt;</c>:
    /// reads the retry-after hint of a handled failure.
    /// </summary>
    public Delegate? RetryAfterHint { get; }

    /// <summary>
    /// Gets whether this is a single-attempt view (<see cref="SingleAttempt"/>): the engine then takes no retry and no
    /// fallback, even one a strategy of the caller's own asks for.
    /// </summary>
    public bool IsSingleAttempt { get; }

    /// <summary>
    /// Gets whether this view runs the callback at most once (<see cref="SingleAttempt"/> or <see cref="WithoutRetries"/>):
    /// the engine then takes no retry, even one a strategy of the caller's own asks for.
    /// </summary>
    public bool RefusesRetries { get; }

    /// <summary>
    /// Gets this pipeline as it runs a call that is one attempt by nature (a stream): without the strategies that repeat,
    /// bound or replace attempts (<see cref="ResilienceStrategy.ShapesAttempts"/>), each kept strategy with its predicate.
    /// Built on first use and kept: a reloaded pipeline gets a new core, and with it a new view.
    /// </summary>
    public PipelineCore SingleAttempt => Volatile.Read(ref _singleAttempt) ?? CreateView(ref _singleAttempt, static strategy => !strategy.ShapesAttempts, CallShape.SingleAttempt);

    /// <summary>
    /// Gets this pipeline as it runs a call that must not be repeated (a request that is not idempotent): without the
    /// strategies that run the call again (<see cref="ResilienceStrategy.RepeatsAttempts"/>); timeouts, fallbacks and
    /// the admitting strategies stay, each with its predicate. Built on first use and kept, as <see cref="SingleAttempt"/>.
    /// </summary>
    public PipelineCore WithoutRetries => Volatile.Read(ref _withoutRetries) ?? CreateView(ref _withoutRetries, static strategy => !strategy.RepeatsAttempts, CallShape.WithoutRetries);

    private PipelineCore CreateView(ref PipelineCore? cache, Func<ResilienceStrategy, bool> keeps, CallShape shape)
    {
        var kept = Enumerable.Range(0, Strategies.Length).Where(index => keeps(Strategies[index])).ToArray();

        // The telemetry strategy repeats and shapes no attempt: it stays outermost, as the quiet core expects.
        var view = new PipelineCore(
            Name,
            TimeProvider,
            Array.ConvertAll(kept, index => Strategies[index]),
            Array.ConvertAll(kept, index => Predicates[index]),
            TypedPredicates,
            Telemetry,
            RetryAfterHint,
            shape);

        // Two racing first calls build equal views: either may be kept.
        return Interlocked.CompareExchange(ref cache, view, null) ?? view;
    }
}
