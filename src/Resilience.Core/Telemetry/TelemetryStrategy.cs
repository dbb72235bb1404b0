using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace Resilience.Telemetry;

/// <summary>
/// The outermost strategy of an instrumented pipeline: counts its calls by outcome and measures their duration, and is
/// told by the engine of the events inside the pipeline, which an outermost strategy cannot see (an inner rejection a
/// fallback replaced, a retry), and by a retry of the retries its budget refused. While nobody listens to call counts or durations the engine runs the pipeline without
/// it (<see cref="IsRecording"/>): no clock read, no pass, two flag reads per call.
/// </summary>
/// <remarks>
/// The engine reports inner events between one strategy's hook and the next, on its paths for those events only. A
/// listener's exception there would leave the strategies outside unexited (a permit kept, a breaker's probe never
/// recorded) and replace the call's outcome: each report drops it instead (logged), and the call goes on as if the
/// event had been measured. The call count and duration, recorded by this strategy's own exit while someone listens,
/// are guarded the same way: a listener's exception never becomes the call's outcome.
/// </remarks>
internal sealed class TelemetryStrategy : ResilienceStrategy
{
    private static readonly KeyValuePair<string, object?> Success = new(TelemetryTags.Outcome, "success");
    private static readonly KeyValuePair<string, object?> Failure = new(TelemetryTags.Outcome, "failure");
    private static readonly KeyValuePair<string, object?> Rejected = new(TelemetryTags.Outcome, "rejected");
    private static readonly KeyValuePair<string, object?> Cancelled = new(TelemetryTags.Outcome, "cancelled");

    // Marks a call whose start was read as timestamp zero (a clock that starts at zero): State alone cannot tell that
    // start from no start, and the call's duration would go unrecorded.
    private static readonly object StartedAtZero = new();

    private readonly ResilienceTelemetry _telemetry;
    private readonly Counter<long> _calls;
    private readonly Histogram<double> _duration;
    private readonly KeyValuePair<string, object?> _pipeline;

    // The instance tag of a keyed instance's pipeline; null for a pipeline's single instance, whose measurements keep
    // their tags (and their cost) as they were.
    private readonly KeyValuePair<string, object?>? _instance;

    public TelemetryStrategy(string? pipelineName, ResilienceTelemetry telemetry, string? instanceKey = null)
        : base("Telemetry")
    {
        _telemetry = telemetry;
        _calls = telemetry.Calls;
        _duration = telemetry.Duration;
        PipelineName = pipelineName ?? string.Empty;
        _pipeline = new(TelemetryTags.Pipeline, PipelineName);
        InstanceKey = instanceKey;
        _instance = instanceKey is null ? null : new(TelemetryTags.Instance, instanceKey);
    }

    /// <summary>Gets the key of the pipeline's instance, or <see langword="null"/> for a pipeline's single instance.</summary>
    public string? InstanceKey { get; }

    public string PipelineName { get; }

    /// <summary>Gets whether call counts or durations are listened to.</summary>
    public bool IsRecording
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _calls.Enabled || _duration.Enabled;
    }

    /// <inheritdoc />
    protected internal override Entry Enter(ref StrategyContext context)
    {
        if (_duration.Enabled)
        {
            // The engine shares this reading with every strategy of the call that needs the time.
            context.State = context.GetTimestamp();
            if (context.State == 0)
            {
                context.StateObject = StartedAtZero;
            }
        }

        return Entry.Admitted;
    }

    /// <inheritdoc />
    protected internal override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome)
    {
        if (context.State != 0 || _calls.Enabled || context.StateObject is not null)
        {
            try
            {
                Record(ref context, in outcome);
            }
            catch (Exception exception)
            {
                _telemetry.ReportFailed(exception, "call", PipelineName);
            }
        }

        return ExitAction.Continue;
    }

    /// <summary>The predicate judging a result for the call count threw: logged; the result counts as a success.</summary>
    public void ReportJudgementFailed(Exception exception) =>
        _telemetry.Guard(
            (_telemetry.Logger, PipelineName, Exception: exception),
            static s => TelemetryLog.JudgementFailed(s.Logger, s.PipelineName, s.Exception),
            "judgement failure",
            PipelineName);

    /// <summary>A strategy refused the call.</summary>
    public void OnRejected(in Rejection rejection) =>
        _telemetry.Guard((Telemetry: this, Rejection: rejection), static s => s.Telemetry.ReportRejection(in s.Rejection), "rejection", PipelineName);

    /// <summary>A strategy asked the engine to await admission: <paramref name="entry"/>, pending.</summary>
    public void OnWaiting(ResilienceStrategy strategy, in Entry entry)
    {
        // A wait is what the limiter decided as the call asked: queued (however soon it is served, even before the
        // engine reads the task: another thread may serve it, or the clock pass a bucket's reservation, meanwhile).
        // A queue that answered at once made the call wait for nothing: full, it refused the call (counted as the
        // rejection it is); a permit freed meanwhile, it granted one.
        if (entry.IsQueued)
        {
            _telemetry.Guard((Telemetry: this, Strategy: strategy), static s => s.Telemetry.ReportWaiting(s.Strategy), "wait", PipelineName);
        }
    }

    /// <summary>A strategy asked for the inner part to run again after <paramref name="delay"/>.</summary>
    public void OnRetryScheduled(ResilienceStrategy strategy, TimeSpan delay) =>
        _telemetry.Guard((Telemetry: this, Strategy: strategy, Delay: delay), static s => s.Telemetry.ReportRetryScheduled(s.Strategy, s.Delay), "retry", PipelineName);

    /// <summary>The attempt a strategy's retry asked for begins: its delay, if any, is over.</summary>
    public void OnRetryAttempt(ResilienceStrategy strategy) =>
        _telemetry.Guard(
            (Telemetry: this, Strategy: strategy),
            static s => s.Telemetry.Count(s.Telemetry._telemetry.RetryAttempts, new(TelemetryTags.Strategy, s.Strategy.Name)),
            "retry attempt",
            PipelineName);

    /// <summary>A retry's budget refused the retry that <paramref name="strategy"/> would otherwise have made.</summary>
    public void OnRetryRefusedByBudget(ResilienceStrategy strategy) =>
        _telemetry.Guard((Telemetry: this, Strategy: strategy), static s => s.Telemetry.ReportRetryRefusedByBudget(s.Strategy), "retry budget refusal", PipelineName);

    /// <summary>A strategy replaced the outcome by <paramref name="exception"/> on its way out (a timeout's exception).</summary>
    public void OnFailed(ResilienceStrategy strategy, Exception exception)
    {
        if (exception is TimeoutRejectedException timeout)
        {
            _telemetry.Guard((Telemetry: this, Strategy: strategy, Timeout: timeout), static s => s.Telemetry.ReportTimeout(s.Strategy, s.Timeout), "timeout", PipelineName);
        }
    }

    /// <summary>A strategy's fallback produced <paramref name="outcome"/>.</summary>
    public void OnFallback<TResult>(ResilienceStrategy strategy, in Outcome<TResult> outcome) =>
        _telemetry.Guard((Telemetry: this, Strategy: strategy, Outcome: outcome), static s => s.Telemetry.ReportFallback(s.Strategy, in s.Outcome), "fallback", PipelineName);

    private void ReportRejection(in Rejection rejection)
    {
        var counter = rejection.Reason switch
        {
            RejectionReason.BrokenCircuit or RejectionReason.IsolatedCircuit => _telemetry.BreakerRejections,
            RejectionReason.RateLimited => _telemetry.LimiterRejections,
            _ => _telemetry.CustomRejections,
        };
        var strategy = rejection.Strategy?.Name;
        var reason = TelemetryTags.Of(rejection.Reason);
        Count(counter, new(TelemetryTags.Strategy, strategy), new(TelemetryTags.Reason, reason));
        if (ResilienceTelemetry.EventTarget is { } activity)
        {
            var tags = Tags(strategy);
            tags[TelemetryTags.Reason] = reason;
            if (rejection.RetryAfter is { } retryAfter)
            {
                tags["retry_after"] = retryAfter.TotalSeconds;
            }

            activity.AddEvent(new ActivityEvent("resilience.rejection", tags: tags));
        }
    }

    private void ReportWaiting(ResilienceStrategy strategy)
    {
        if (strategy is RateLimiterStrategy or IPartitionedLimiterStrategy)
        {
            Count(_telemetry.LimiterWaits, new(TelemetryTags.Strategy, strategy.Name));
        }
    }

    private void ReportRetryScheduled(ResilienceStrategy strategy, TimeSpan delay)
    {
        if (ResilienceTelemetry.EventTarget is { } activity)
        {
            var tags = Tags(strategy.Name);
            tags["delay"] = delay.TotalSeconds;
            activity.AddEvent(new ActivityEvent("resilience.retry", tags: tags));
        }
    }

    private void ReportRetryRefusedByBudget(ResilienceStrategy strategy)
    {
        Count(_telemetry.RetryBudgetRefusals, new(TelemetryTags.Strategy, strategy.Name));
        if (ResilienceTelemetry.EventTarget is { } activity)
        {
            // A trace then shows why a failed call was not tried again.
            activity.AddEvent(new ActivityEvent("resilience.retry.budget_refused", tags: Tags(strategy.Name)));
        }
    }

    private void ReportTimeout(ResilienceStrategy strategy, TimeoutRejectedException timeout)
    {
        Count(_telemetry.TimeoutsExpired, new(TelemetryTags.Strategy, strategy.Name));
        if (ResilienceTelemetry.EventTarget is { } activity)
        {
            var tags = Tags(strategy.Name);
            tags["timeout"] = timeout.Timeout.TotalSeconds;
            activity.AddEvent(new ActivityEvent("resilience.timeout", tags: tags));
        }
    }

    private void ReportFallback<TResult>(ResilienceStrategy strategy, in Outcome<TResult> outcome)
    {
        if (outcome.FallbackLevel is not { } index)
        {
            return;
        }

        var level = strategy is FallbackStrategy<TResult> fallback && index < fallback.Levels.Count ? fallback.Levels[index].Name : index.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Count(_telemetry.FallbacksServed, new(TelemetryTags.Strategy, strategy.Name), new(TelemetryTags.Level, level));
        if (ResilienceTelemetry.EventTarget is { } activity)
        {
            var tags = Tags(strategy.Name);
            tags[TelemetryTags.Level] = level;
            activity.AddEvent(new ActivityEvent("resilience.fallback", tags: tags));
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Record(ref StrategyContext context, in ExitOutcome outcome)
    {
        if (_telemetry.IsDisposed)
        {
            // Its meter may be a factory's, still listened to: a disposed telemetry counts no more calls. Read here,
            // in the exit that runs only in a call that started while someone listened, not on every call.
            return;
        }

        var tag = outcome.IsRejected ? Rejected
            : outcome.IsCallerCancelled ? Cancelled
            : outcome.Exception is null && !outcome.IsHandled ? Success
            : Failure;
        if (_instance is { } instance)
        {
            // A keyed instance's call; a single instance's pays one null check for the feature, and no more.
            RecordInstance(ref context, tag, instance);
            return;
        }

        _calls.Add(1, _pipeline, tag);
        if (IsTimed(ref context))
        {
            var elapsed = context.TimeProvider.GetElapsedTime(context.State, context.GetTimestamp());
            _duration.Record(elapsed.TotalSeconds, _pipeline, tag);
        }
    }

    /// <summary>Records a keyed instance's call: the tags of a single instance's, and the instance's key.</summary>
    private void RecordInstance(ref StrategyContext context, KeyValuePair<string, object?> outcome, KeyValuePair<string, object?> instance)
    {
        _calls.Add(1, _pipeline, outcome, instance);
        if (IsTimed(ref context))
        {
            var elapsed = context.TimeProvider.GetElapsedTime(context.State, context.GetTimestamp());
            _duration.Record(elapsed.TotalSeconds, _pipeline, outcome, instance);
        }
    }

    /// <summary>Counts an event inside the pipeline: tagged with the pipeline, the event's tag, and the instance's key if any.</summary>
    private void Count(Counter<long> counter, KeyValuePair<string, object?> tag)
    {
        if (_instance is { } instance)
        {
            counter.Add(1, _pipeline, tag, instance);
            return;
        }

        counter.Add(1, _pipeline, tag);
    }

    /// <summary>Counts an event inside the pipeline with two tags of its own (see <see cref="Count(Counter{long}, KeyValuePair{string, object?})"/>).</summary>
    private void Count(Counter<long> counter, KeyValuePair<string, object?> first, KeyValuePair<string, object?> second)
    {
        if (_instance is { } instance)
        {
            // Four tags: a TagList, on the stack.
            var tags = new TagList { _pipeline, first, second, instance };
            counter.Add(1, in tags);
            return;
        }

        counter.Add(1, _pipeline, first, second);
    }

    /// <summary>Gets whether the call's start was read as it entered (the duration histogram was listened to then).</summary>
    private static bool IsTimed(ref StrategyContext context) => context.State != 0 || context.StateObject is not null;

    private ActivityTagsCollection Tags(string? strategy)
    {
        var tags = new ActivityTagsCollection
        {
            [TelemetryTags.Pipeline] = PipelineName,
            [TelemetryTags.Strategy] = strategy,
        };
        if (InstanceKey is { } instance)
        {
            tags[TelemetryTags.Instance] = instance;
        }

        return tags;
    }
}
