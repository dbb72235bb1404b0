using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Resilience.Telemetry;

/// <summary>
/// The library's telemetry: one <see cref="Meter"/> named <see cref="MeterName"/> with OpenTelemetry-style instruments,
/// events on the current <see cref="Activity"/> (when the <see cref="ActivitySourceName"/> source is listened to) and
/// log messages for breaker transitions and reloads. The DI container creates one from its <see cref="IMeterFactory"/>;
/// without DI, <see cref="Default"/> serves.
/// </summary>
/// <remarks>
/// Pipelines report through their telemetry strategy (<c>AddTelemetry</c>); breakers, limiters, partitioned limiters
/// and retry budgets are observed once tracked (<see cref="Track(CircuitBreaker, string?)"/> and its overloads): their gauges are read only
/// when a listener collects, and their hot paths are not touched at all. Tracking holds an instance weakly: one its
/// owner drops is collected and leaves the gauges, whether or not its registration was disposed.
/// </remarks>
public sealed class ResilienceTelemetry : IDisposable
{
    /// <summary>The name of the meter.</summary>
    public const string MeterName = "Resilience";

    /// <summary>The name of the activity source: listen to it (OpenTelemetry: <c>AddSource("Resilience")</c>) to receive events on the current activity.</summary>
    public const string ActivitySourceName = "Resilience";

    private static readonly double[] DurationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly bool _ownsMeter;
    // Held weakly: an instance tracked and then dropped by its owner (a registration never disposed, as with a breaker
    // created per tenant and tracked on Default) is collected and leaves the gauges, instead of being kept alive and
    // reported for as long as the process runs.
    private readonly ConditionalWeakTable<CircuitBreaker, Tracked> _breakers = new();
    private readonly ConditionalWeakTable<RateLimiter, Tracked> _limiters = new();
    private readonly ConditionalWeakTable<RetryBudget, Tracked> _budgets = new();
    private readonly ConditionalWeakTable<IPartitionCounts, Tracked> _partitioned = new();
    private int _disposed;

    /// <summary>Initializes a new instance.</summary>
    /// <param name="meterFactory">The factory that creates (and owns) the meter; <see langword="null"/> for a meter this instance owns.</param>
    /// <param name="loggerFactory">The source of the logger (category <c>Resilience</c>); <see langword="null"/> for no logging.</param>
    public ResilienceTelemetry(IMeterFactory? meterFactory = null, ILoggerFactory? loggerFactory = null)
    {
        var options = new MeterOptions(MeterName) { Version = typeof(ResilienceTelemetry).Assembly.GetName().Version?.ToString() };
        Meter = meterFactory?.Create(options) ?? new Meter(options);
        _ownsMeter = meterFactory is null;
        Logger = loggerFactory?.CreateLogger(MeterName) ?? NullLogger.Instance;

        Calls = Meter.CreateCounter<long>("resilience.pipeline.calls", "{call}", "Calls that went through a pipeline, by outcome.");
        Duration = Meter.CreateHistogram(
            "resilience.pipeline.duration", "s", "Duration of calls through a pipeline, strategies included.",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        BreakerRejections = Meter.CreateCounter<long>("resilience.circuit_breaker.rejections", "{call}", "Calls a circuit breaker refused (open or isolated).");
        Transitions = Meter.CreateCounter<long>("resilience.circuit_breaker.transitions", "{transition}", "Changes of a circuit breaker's state.");
        LimiterRejections = Meter.CreateCounter<long>("resilience.rate_limiter.rejections", "{call}", "Calls a rate or concurrency limiter refused.");
        LimiterWaits = Meter.CreateCounter<long>("resilience.rate_limiter.waits", "{call}", "Calls that had to wait in a limiter's queue for a permit.");
        CustomRejections = Meter.CreateCounter<long>("resilience.strategy.rejections", "{call}", "Calls another strategy refused.");
        FallbacksServed = Meter.CreateCounter<long>("resilience.fallback.served", "{call}", "Calls whose outcome a fallback level replaced, by level.");
        RetryAttempts = Meter.CreateCounter<long>("resilience.retry.attempts", "{attempt}", "Retries: attempts after the first.");
        RetryBudgetRefusals = Meter.CreateCounter<long>(
            "resilience.retry.budget_refusals", "{retry}", "Retries a retry budget refused: its balance was at or below half of its capacity.");
        TimeoutsExpired = Meter.CreateCounter<long>("resilience.timeout.expired", "{attempt}", "Attempts a timeout cut short.");
        Reloads = Meter.CreateCounter<long>("resilience.config.reloads", "{reload}", "Changes of resilience settings, applied or rejected.");

        Meter.CreateObservableGauge("resilience.circuit_breaker.state", ObserveStates, "{state}", "A circuit breaker's state: 0 closed, 1 open, 2 half-open, 3 isolated.");
        Meter.CreateObservableGauge("resilience.circuit_breaker.failure_ratio", ObserveFailureRatios, "1", "The failure ratio of a circuit breaker's current window.");
        Meter.CreateObservableGauge("resilience.rate_limiter.permits_available", ObservePermits, "{permit}", "Permits a limiter can grant now.");
        Meter.CreateObservableUpDownCounter("resilience.rate_limiter.queued", ObserveQueued, "{permit}", "Permits waited for in a limiter's queue now.");
        Meter.CreateObservableUpDownCounter("resilience.rate_limiter.partitions", ObservePartitions, "{partition}", "Live partitions of a partitioned limiter.");
        Meter.CreateObservableCounter("resilience.rate_limiter.partitions_created", ObservePartitionsCreated, "{partition}", "Partitions a partitioned limiter created.");
        Meter.CreateObservableCounter("resilience.rate_limiter.partitions_evicted", ObservePartitionsEvicted, "{partition}", "Partitions a partitioned limiter evicted, idle or past its cap.");
        Meter.CreateObservableGauge("resilience.retry_budget.balance", ObserveBalances, "{token}", "Tokens in a retry budget; retries are allowed above half of its capacity.");
    }

    /// <summary>Gets the instance used by pipelines built without dependency injection.</summary>
    public static ResilienceTelemetry Default { get; } = new();

    /// <summary>Gets the meter.</summary>
    public Meter Meter { get; }

    internal static ActivitySource ActivitySource { get; } = new(ActivitySourceName);

    internal ILogger Logger { get; }

    internal Counter<long> Calls { get; }

    internal Histogram<double> Duration { get; }

    internal Counter<long> BreakerRejections { get; }

    internal Counter<long> Transitions { get; }

    internal Counter<long> LimiterRejections { get; }

    internal Counter<long> LimiterWaits { get; }

    internal Counter<long> CustomRejections { get; }

    internal Counter<long> FallbacksServed { get; }

    internal Counter<long> RetryAttempts { get; }

    internal Counter<long> RetryBudgetRefusals { get; }

    internal Counter<long> TimeoutsExpired { get; }

    internal Counter<long> Reloads { get; }

    /// <summary>
    /// Observes a circuit breaker: its state and failure ratio as gauges, and every transition as a counter, a log
    /// message and an event on the current activity. Tracking an instance twice has no further effect.
    /// </summary>
    /// <param name="breaker">The breaker.</param>
    /// <param name="name">The value of the <c>strategy</c> tag; defaults to the breaker's name.</param>
    /// <returns>A registration that stops observing the breaker when disposed.</returns>
    public IDisposable Track(CircuitBreaker breaker, string? name = null) => Track(breaker, name, instanceKey: null);

    /// <summary>Observes a breaker of a pipeline's keyed instance: its measurements carry the key as the <c>pipeline.instance</c> tag.</summary>
    internal IDisposable Track(CircuitBreaker breaker, string? name, string? instanceKey)
    {
        ArgumentNullException.ThrowIfNull(breaker);
        var tracked = new Tracked(name ?? breaker.Name, instanceKey);
        if (!_breakers.TryAdd(breaker, tracked))
        {
            return Untrack.None;
        }

        EventHandler<CircuitTransition> handler = (_, transition) => OnTransition(tracked, transition);
        tracked.Handler = handler;
        breaker.Transitioned += handler;
        return Registered(() =>
        {
            breaker.Transitioned -= handler;
            _breakers.Remove(breaker);
        });
    }

    /// <summary>Observes a limiter: the permits it can grant and the permits waited for, as gauges.</summary>
    /// <param name="limiter">The limiter.</param>
    /// <param name="name">The value of the <c>strategy</c> tag.</param>
    /// <returns>A registration that stops observing the limiter when disposed.</returns>
    public IDisposable Track(RateLimiter limiter, string name) => Track(limiter, name, instanceKey: null);

    /// <summary>Observes a limiter of a pipeline's keyed instance: its gauges carry the key as the <c>pipeline.instance</c> tag.</summary>
    internal IDisposable Track(RateLimiter limiter, string name, string? instanceKey)
    {
        ArgumentNullException.ThrowIfNull(limiter);
        ArgumentException.ThrowIfNullOrEmpty(name);
        return _limiters.TryAdd(limiter, new Tracked(name, instanceKey)) ? Registered(() => _limiters.Remove(limiter)) : Untrack.None;
    }

    /// <summary>
    /// Observes a partitioned limiter: its live partitions, and the partitions it created and evicted, read only when a
    /// listener collects. The partitions are counted together, under the limiter's name: no measurement carries a
    /// partition's key, whose values have no bound.
    /// </summary>
    /// <typeparam name="TKey">The partition key.</typeparam>
    /// <param name="limiter">The limiter.</param>
    /// <param name="name">The value of the <c>strategy</c> tag.</param>
    /// <returns>A registration that stops observing the limiter when disposed.</returns>
    public IDisposable Track<TKey>(BoundedPartitionedLimiter<TKey> limiter, string name)
        where TKey : notnull
    {
        ArgumentNullException.ThrowIfNull(limiter);
        ArgumentException.ThrowIfNullOrEmpty(name);
        return Track((IPartitionCounts)limiter, name);
    }

    /// <summary>Observes a partitioned limiter whatever its key type (a pipeline's code created it).</summary>
    internal IDisposable Track(IPartitionCounts limiter, string name, string? instanceKey = null) =>
        _partitioned.TryAdd(limiter, new Tracked(name, instanceKey)) ? Registered(() => _partitioned.Remove(limiter)) : Untrack.None;

    /// <summary>Observes a retry budget: its balance, as a gauge.</summary>
    /// <param name="budget">The budget.</param>
    /// <param name="name">The value of the <c>strategy</c> tag.</param>
    /// <returns>A registration that stops observing the budget when disposed.</returns>
    public IDisposable Track(RetryBudget budget, string name)
    {
        ArgumentNullException.ThrowIfNull(budget);
        ArgumentException.ThrowIfNullOrEmpty(name);
        return _budgets.TryAdd(budget, new Tracked(name)) ? Registered(() => _budgets.Remove(budget)) : Untrack.None;
    }

    /// <summary>
    /// The registration of an instance just added, or none when this telemetry is disposed: then the add is undone. Dispose
    /// raises its flag before it empties the tables, and the add came before this read, so whichever of the two runs
    /// second sees the other: nothing stays tracked past Dispose, and the gauges need no check of their own.
    /// </summary>
    private IDisposable Registered(Action undo)
    {
        if (!IsDisposed)
        {
            return new Untrack(undo);
        }

        undo();
        return Untrack.None;
    }

    /// <summary>
    /// Stops observing every tracked instance (their gauges report nothing, their transitions are no longer counted or
    /// logged, and later tracking does nothing) and the pipelines it instruments (their calls and the events inside them
    /// are no longer counted), and disposes the meter when this instance created it. A meter from an
    /// <see cref="IMeterFactory"/> is the factory's and outlives this instance, so its gauges stop reporting here rather
    /// than with the meter. <see cref="Default"/> is never disposed.
    /// </summary>
    public void Dispose()
    {
        if (ReferenceEquals(this, Default) || Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var (breaker, tracked) in (IEnumerable<KeyValuePair<CircuitBreaker, Tracked>>)_breakers)
        {
            breaker.Transitioned -= tracked.Handler;
        }

        _breakers.Clear();
        _limiters.Clear();
        _budgets.Clear();
        _partitioned.Clear();
        if (_ownsMeter)
        {
            Meter.Dispose();
        }
    }

    internal bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    // A reload's report runs on a configuration watcher's callback or in UpdateOptions, after the reload took effect or
    // was refused: a listener or logging provider that throws must neither break the watcher nor hide the reload's result.
    internal void ReportReloadApplied(string source, int updated, int rebuilt)
    {
        Guard(Reloads, static reloads => reloads.Add(1, new KeyValuePair<string, object?>(TelemetryTags.Result, "applied")), "configuration reload", source);
        Guard((Logger, Source: source, Updated: updated, Rebuilt: rebuilt), static s => TelemetryLog.ReloadApplied(s.Logger, s.Source, s.Updated, s.Rebuilt), "configuration reload", source);
    }

    internal void ReportReloadRejected(string source, IReadOnlyList<string> errors)
    {
        Guard(Reloads, static reloads => reloads.Add(1, new KeyValuePair<string, object?>(TelemetryTags.Result, "rejected")), "configuration reload", source);
        Guard((Logger, Source: source, Errors: errors), static s => TelemetryLog.ReloadRejected(s.Logger, s.Source, s.Errors.Count, string.Join('\n', s.Errors)), "configuration reload", source);
    }

    /// <summary>
    /// Makes one report, none once this instance is disposed. A listener or logging provider that throws loses that
    /// report only: the exception is logged (<see cref="ReportFailed"/>) and whatever made the report goes on. Static
    /// callbacks over a state: no closure.
    /// </summary>
    /// <typeparam name="TState">What the report needs.</typeparam>
    /// <param name="state">What the report needs.</param>
    /// <param name="report">The report.</param>
    /// <param name="what">What was reported, for the log.</param>
    /// <param name="source">The pipeline or breaker it was reported for.</param>
    internal void Guard<TState>(TState state, Action<TState> report, string what, string source)
    {
        if (IsDisposed)
        {
            // A pipeline instrumented by a disposed telemetry reports nothing more under it (its meter may be a
            // factory's, alive and listened to).
            return;
        }

        try
        {
            report(state);
        }
        catch (Exception exception)
        {
            ReportFailed(exception, what, source);
        }
    }

    /// <summary>
    /// A listener threw while an event was reported from inside a call: the measurement is lost, the exception logged,
    /// and the call goes on.
    /// </summary>
    /// <param name="exception">The listener's exception.</param>
    /// <param name="report">What was reported.</param>
    /// <param name="source">The pipeline or breaker it was reported for.</param>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal void ReportFailed(Exception exception, string report, string source)
    {
        try
        {
            TelemetryLog.ReportFailed(Logger, report, source, exception);
        }
        catch (Exception)
        {
            // A logger that throws as well: nothing is left to tell, and the call still goes on.
        }
    }

    /// <summary>Gets the activity to add an event to: the current one, when it records data and someone listens to our source.</summary>
    internal static Activity? EventTarget =>
        ActivitySource.HasListeners() && Activity.Current is { IsAllDataRequested: true } activity ? activity : null;

    private void OnTransition(Tracked tracked, CircuitTransition transition)
    {
        if (IsDisposed)
        {
            // A transition raised while Dispose detached this handler (a breaker's event copies its handlers first).
            return;
        }

        var from = TelemetryTags.Of(transition.From);
        var to = TelemetryTags.Of(transition.To);
        var reason = TelemetryTags.Of(transition.Reason);
        var tags = new TagList
        {
            { TelemetryTags.Strategy, tracked.Name },
            { TelemetryTags.From, from },
            { TelemetryTags.To, to },
            { TelemetryTags.Reason, reason },
        };
        if (tracked.InstanceKey is { } instance)
        {
            tags.Add(TelemetryTags.Instance, instance);
        }

        // The transition is raised inside the call that caused it: neither a listener's fault nor a logging provider's
        // may become that call's.
        Guard((Counter: Transitions, Tags: tags), static s => s.Counter.Add(1, in s.Tags), "circuit breaker transition", tracked.Name);
        Guard((Logger, tracked.Name, Transition: transition), static s => LogTransition(s.Logger, s.Name, s.Transition), "circuit breaker transition", tracked.Name);

        if (EventTarget is { } activity)
        {
            var eventTags = new ActivityTagsCollection
            {
                [TelemetryTags.Strategy] = tracked.Name,
                [TelemetryTags.From] = from,
                [TelemetryTags.To] = to,
                [TelemetryTags.Reason] = reason,
            };
            if (tracked.InstanceKey is { } key)
            {
                eventTags[TelemetryTags.Instance] = key;
            }

            activity.AddEvent(new ActivityEvent("resilience.circuit_breaker.transition", tags: eventTags));
        }
    }

    private static void LogTransition(ILogger logger, string name, CircuitTransition transition)
    {
        var from = TelemetryTags.Of(transition.From);
        var reason = TelemetryTags.Of(transition.Reason);
        if (transition.To == CircuitState.Open)
        {
            var window = transition.Window;
            TelemetryLog.CircuitOpened(logger, name, from, reason, window.Failures, window.SlowCalls, window.Calls, transition.BreakDuration);
        }
        else
        {
            TelemetryLog.CircuitTransitioned(logger, name, from, TelemetryTags.Of(transition.To), reason);
        }
    }

    private IEnumerable<Measurement<int>> ObserveStates()
    {
        foreach (var (breaker, tracked) in (IEnumerable<KeyValuePair<CircuitBreaker, Tracked>>)_breakers)
        {
            yield return new Measurement<int>((int)breaker.State, tracked.Tag);
        }
    }

    private IEnumerable<Measurement<double>> ObserveFailureRatios()
    {
        foreach (var (breaker, tracked) in (IEnumerable<KeyValuePair<CircuitBreaker, Tracked>>)_breakers)
        {
            yield return new Measurement<double>(breaker.GetSnapshot().FailureRatio, tracked.Tag);
        }
    }

    private IEnumerable<Measurement<long>> ObservePermits()
    {
        foreach (var (limiter, tracked) in (IEnumerable<KeyValuePair<RateLimiter, Tracked>>)_limiters)
        {
            if (StatisticsOf(limiter) is { } statistics)
            {
                yield return new Measurement<long>(statistics.CurrentAvailablePermits, tracked.Tag);
            }
        }
    }

    private IEnumerable<Measurement<long>> ObserveQueued()
    {
        foreach (var (limiter, tracked) in (IEnumerable<KeyValuePair<RateLimiter, Tracked>>)_limiters)
        {
            if (StatisticsOf(limiter) is { } statistics)
            {
                yield return new Measurement<long>(statistics.CurrentQueuedCount, tracked.Tag);
            }
        }
    }

    /// <summary>
    /// Reads a limiter's statistics; none for a limiter disposed while still tracked. Its exception would end the
    /// collection pass, and every instrument read after this one would go unreported.
    /// </summary>
    private static RateLimiterStatistics? StatisticsOf(RateLimiter limiter)
    {
        try
        {
            return limiter.GetStatistics();
        }
        catch (ObjectDisposedException)
        {
            return null;
        }
    }

    private IEnumerable<Measurement<long>> ObservePartitions() => ObservePartitioned(static limiter => limiter.Count);

    private IEnumerable<Measurement<long>> ObservePartitionsCreated() => ObservePartitioned(static limiter => limiter.PartitionsCreated);

    private IEnumerable<Measurement<long>> ObservePartitionsEvicted() => ObservePartitioned(static limiter => limiter.PartitionsEvicted);

    /// <summary>Reads one count of every tracked partitioned limiter; one disposed while still tracked is skipped, as a plain limiter is.</summary>
    private IEnumerable<Measurement<long>> ObservePartitioned(Func<IPartitionCounts, long> read)
    {
        foreach (var (limiter, tracked) in (IEnumerable<KeyValuePair<IPartitionCounts, Tracked>>)_partitioned)
        {
            if (!limiter.IsDisposed)
            {
                yield return new Measurement<long>(read(limiter), tracked.Tag);
            }
        }
    }

    private IEnumerable<Measurement<double>> ObserveBalances()
    {
        foreach (var (budget, tracked) in (IEnumerable<KeyValuePair<RetryBudget, Tracked>>)_budgets)
        {
            yield return new Measurement<double>(budget.Balance, tracked.Tag);
        }
    }

    private sealed class Tracked(string name, string? instanceKey = null)
    {
        public string Name { get; } = name;

        /// <summary>Gets the key of the pipeline instance the tracked instance belongs to, if any.</summary>
        public string? InstanceKey { get; } = instanceKey;

        /// <summary>Gets the tags of its gauges: the <c>strategy</c> tag, and the instance's key if any.</summary>
        public KeyValuePair<string, object?>[] Tag { get; } = instanceKey is null
            ? [new(TelemetryTags.Strategy, name)]
            : [new(TelemetryTags.Strategy, name), new(TelemetryTags.Instance, instanceKey)];

        /// <summary>Gets or sets, for a breaker, the handler of its transitions, detached when the telemetry is disposed.</summary>
        public EventHandler<CircuitTransition>? Handler { get; set; }
    }

    private sealed class Untrack(Action? undo) : IDisposable
    {
        public static Untrack None { get; } = new(null);

        private Action? _undo = undo;

        public void Dispose() => Interlocked.Exchange(ref _undo, null)?.Invoke();
    }
}
