using Resilience.Options;
using Resilience.Telemetry;

namespace Resilience;

/// <summary>What the untyped and typed pipeline builders share: a name, a clock, and the strategies in order.</summary>
public abstract class ResiliencePipelineBuilderBase
{
    private readonly List<ResilienceStrategy> _strategies = [];
    private readonly List<Delegate?> _predicates = [];

    private protected ResiliencePipelineBuilderBase()
    {
    }

    /// <summary>Gets or sets the pipeline's name, used in telemetry and in the exceptions it raises.</summary>
    public string? Name { get; set; }

    /// <summary>Gets or sets the clock the pipeline's engine reads for durations and retry delays.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// Gives options that name no clock this builder's (a copy; the caller's options are left as they are): one pipeline,
    /// one clock, for strategies added from options as for the engine's own delays and timestamps.
    /// </summary>
    internal TOptions OnPipelineClock<TOptions>(TOptions options)
        where TOptions : class, IClockOptions<TOptions>
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.TimeProvider is not null)
        {
            return options;
        }

        var onClock = options.Clone();
        onClock.TimeProvider = TimeProvider;
        return onClock;
    }

    /// <summary>Gets the strategies added so far, outermost first.</summary>
    public IReadOnlyList<ResilienceStrategy> Strategies => _strategies;

    // Predicates live with the pipeline, not the strategy, so one shared strategy can be judged differently per pipeline.
    internal void AddComponent(ResilienceStrategy strategy, Delegate? shouldHandle)
    {
        ArgumentNullException.ThrowIfNull(strategy);
        _strategies.Add(strategy);
        _predicates.Add(shouldHandle);
    }

    /// <summary>Gets or sets the pipeline's telemetry strategy (outermost), told of the events inside the pipeline.</summary>
    internal TelemetryStrategy? Telemetry { get; set; }

    /// <summary>Adds a strategy outside every strategy added so far (telemetry sees the whole call).</summary>
    internal void AddOutermost(ResilienceStrategy strategy)
    {
        ArgumentNullException.ThrowIfNull(strategy);
        _strategies.Insert(0, strategy);
        _predicates.Insert(0, null);
    }

    /// <summary>The typed or untyped retry-after reader of the derived builder, if any.</summary>
    private protected Delegate? RetryAfterReader { get; set; }

    private protected PipelineCore BuildCore(bool typedPredicates, Func<Delegate, TelemetryStrategy, Delegate>? judgeForTelemetry = null)
    {
        ArgumentNullException.ThrowIfNull(TimeProvider, nameof(TimeProvider));
        Delegate?[] predicates = [.. _predicates];
        if (Telemetry is { } telemetry && judgeForTelemetry is not null && predicates.Skip(1).FirstOrDefault(predicate => predicate is not null) is { } outermost)
        {
            // The telemetry strategy is always first (added outermost) and has no predicate of its own.
            predicates[0] = judgeForTelemetry(outermost, telemetry);
        }

        return new PipelineCore(Name, TimeProvider, [.. _strategies], predicates, typedPredicates, Telemetry, RetryAfterReader);
    }
}
