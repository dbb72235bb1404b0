using Resilience.Tests.CircuitBreaker;
using Resilience.Tests.Composite;

namespace Resilience.Tests.Telemetry;

/// <summary>
/// The reference of <see cref="TelemetryModelTests"/>: from a call's script alone (and docs/telemetry.md), every
/// measurement an instrumented pipeline of a <see cref="TelemetryComposition"/> must record for it. The strategies' own
/// rules are the reference models' (<see cref="BreakerModel"/>, <see cref="TokenBucketModel"/>,
/// <see cref="RetryBudgetModel"/>); the calls are sequential, each with a token of its own, so the concurrency limiter
/// always admits and the timeout's deadline is its start plus the timeout.
/// </summary>
internal sealed class TelemetryModel
{
    public const string Pipeline = "orders";
    public const string RetryName = "retry";
    public const string BreakerName = "breaker";
    public const string BucketName = "bucket";
    public const string PartitionedName = "tenants";
    public const string TimeoutName = "timeout";
    public const string InFlightName = "in-flight";
    public const string BudgetName = "budget";
    public const string FallbackName = "Fallback";
    public const int MaxRetryAttempts = 2;
    public const int StaticValue = 7;

    public static readonly string[] LevelNames = ["last-known-good", "fixed"];
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaxRetryAfter = TimeSpan.FromMilliseconds(300);

    private readonly TelemetryComposition _composition;
    private readonly TokenBucketLimiterOptions _partition;
    private readonly Dictionary<string, TokenBucketModel> _partitions = [];
    private readonly Dictionary<string, (int Value, long Recorded)> _lastKnownGood = [];
    private int _transitionsSeen;

    public TelemetryModel(TelemetryComposition composition, CircuitBreakerOptions breaker, TokenBucketLimiterOptions bucket, TokenBucketLimiterOptions partition, RetryBudgetOptions budget, long originTicks)
    {
        _composition = composition;
        _partition = partition;
        Breaker = composition.Breaker ? new BreakerModel(breaker) : null;
        Bucket = composition.Bucket ? new TokenBucketModel(bucket, originTicks) : null;
        Budget = composition.Retry && composition.Budget ? new RetryBudgetModel(budget) : null;
    }

    public BreakerModel? Breaker { get; }

    public TokenBucketModel? Bucket { get; }

    public RetryBudgetModel? Budget { get; }

    /// <summary>Gets the timeout in force.</summary>
    public TimeSpan Timeout { get; private set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Gets or sets whether the retry retries a limiter's and an open breaker's rejections (its live options).</summary>
    public bool RetryRejections { get; set; } = true;

    /// <summary>Gets the measurements expected so far, in no particular order within a step.</summary>
    public List<string> Expected { get; } = [];

    /// <summary>Gets the events expected on the activity of the call made in this step, in no particular order.</summary>
    public List<string> ExpectedEvents { get; } = [];

    /// <summary>
    /// Gets or sets whether the concurrency limiter's one permit is held outside the pipeline: it refuses every call, or
    /// with a queue (<see cref="InFlightQueue"/>) queues it until the permit is given back.
    /// </summary>
    public bool InFlightHeld { get; set; }

    /// <summary>Gets or sets whether the concurrency limiter queues one call (its live options).</summary>
    public bool InFlightQueue { get; set; }

    /// <summary>
    /// Gets whether the last call ended with the exception of the scripted fallback level, which then must surface as
    /// itself (no later level tried, or none served).
    /// </summary>
    public bool LevelFailureSurfaced { get; private set; }

    /// <summary>
    /// Gets whether that exception carries the failure it replaced: an exception or a rejection's exception (a result
    /// judged a failure has none to attach).
    /// </summary>
    public bool OriginalFailureAttached { get; private set; }

    /// <summary>Gets whether the last call ran the scripted fallback level and that level completed later (the call waited for it).</summary>
    public bool LevelCompletedLater { get; private set; }

    public void UpdateTimeout(TimeSpan timeout) => Timeout = timeout;

    /// <summary>
    /// Adds the breaker's transitions raised since the last look: a tracked breaker counts each, and adds an event for
    /// each to the activity of the call that caused it (<paramref name="inCall"/>; outside a call there is none).
    /// </summary>
    public void TakeTransitions(bool inCall)
    {
        if (Breaker is null)
        {
            return;
        }

        foreach (var (from, to, reason, _, _, _, _, _) in Breaker.Transitions.Skip(_transitionsSeen))
        {
            (string, object?)[] tags = [("strategy", BreakerName), ("from", ExpectedMeasurement.Of(from)), ("to", ExpectedMeasurement.Of(to)), ("reason", ExpectedMeasurement.Of(reason))];
            Expected.Add(ExpectedMeasurement.Of("resilience.circuit_breaker.transitions", 1, tags));
            if (inCall)
            {
                ExpectedEvents.Add(ExpectedMeasurement.Event("resilience.circuit_breaker.transition", tags));
            }
        }

        _transitionsSeen = Breaker.Transitions.Count;
    }

    /// <summary>
    /// A call made at <paramref name="start"/>, its attempts doing what <paramref name="kinds"/> say (a <c>Hang</c> only
    /// with a timeout); <paramref name="cancelInDelay"/>: its caller cancels it in its first wait (a retry's delay, a
    /// queue); <paramref name="level"/>: what the scripted fallback level does if it runs; <paramref name="cancelledAtStart"/>:
    /// its caller cancelled before it started. Returns the waits the call rests in, when it ends and how; adds what it
    /// must record to <see cref="Expected"/>.
    /// </summary>
    public (IReadOnlyList<ExpectedWait> Waits, long End, string Outcome) Call(string key, int value, AttemptKind[] kinds, bool cancelInDelay, long start, FallbackLevelKind level, bool cancelledAtStart = false)
    {
        LevelFailureSurfaced = OriginalFailureAttached = LevelCompletedLater = false;
        if (cancelledAtStart)
        {
            // Nothing runs and nothing is taken (no breaker probe, no bucket or concurrency permit, no budget token), but
            // the call is counted and timed as any call its caller cancelled.
            Expected.Add(ExpectedMeasurement.Of("resilience.pipeline.calls", 1, ("pipeline", Pipeline), ("outcome", "cancelled")));
            Expected.Add(ExpectedMeasurement.Of("resilience.pipeline.duration", 0d, ("pipeline", Pipeline), ("outcome", "cancelled")));
            return ([], start, "cancelled");
        }

        var failedWithResult = false;
        var now = start;
        var attempts = 0;
        var waits = new List<ExpectedWait>();
        string ending;
        var replaceable = false;
        var lastResult = 0;
        for (var attempt = 0; ; attempt++)
        {
            var (admitted, generation, probe, timed) = (true, 0u, false, false);
            (string Reason, string Strategy, TimeSpan? RetryAfter)? rejection = null;
            if (Breaker is not null)
            {
                var acquired = Breaker.Acquire(now);
                (admitted, generation, probe, timed) = (acquired.Admitted, acquired.Generation, acquired.Probe, acquired.Timed);
                if (!admitted)
                {
                    rejection = Breaker.State == CircuitState.Isolated ? ("isolated_circuit", BreakerName, null) : ("broken_circuit", BreakerName, acquired.RetryAfter);
                }
            }

            var admittedAt = now;
            if (rejection is null && Bucket?.Reserve(now) is { } taken)
            {
                if (!taken.Granted)
                {
                    rejection = ("rate_limited", BucketName, taken.RetryAfter);
                }
                else if (taken.WaitTicks > 0)
                {
                    var wait = TimeSpan.FromTicks(taken.WaitTicks);

                    // A wait in the bucket's queue: counted as it begins.
                    Expected.Add(ExpectedMeasurement.Of("resilience.rate_limiter.waits", 1, ("pipeline", Pipeline), ("strategy", BucketName)));
                    waits.Add(ExpectedWait.InQueue(wait, BucketName));
                    if (cancelInDelay)
                    {
                        // The caller's cancellation ends the wait: the slot comes back, and the call is neither a
                        // success nor a failure for the breaker, and never retried nor replaced.
                        Bucket.GiveBack(taken.Slot);
                        Breaker?.Record(generation, probe, timed, CircuitCallResult.Ignored, admittedAt, now);
                        (ending, replaceable) = ("cancelled", false);
                        break;
                    }

                    Bucket.Serve();
                    now += taken.WaitTicks;
                }
            }

            if (rejection is null && _composition.PartitionWaits && Partition(key, now) is var waitingPartition && waitingPartition.Reserve(now) is var reserved)
            {
                if (!reserved.Granted)
                {
                    rejection = ("rate_limited", PartitionedName, reserved.RetryAfter);
                }
                else if (reserved.WaitTicks > 0)
                {
                    // A wait in the partition's queue, as in the bucket's.
                    Expected.Add(ExpectedMeasurement.Of("resilience.rate_limiter.waits", 1, ("pipeline", Pipeline), ("strategy", PartitionedName)));
                    waits.Add(ExpectedWait.InQueue(TimeSpan.FromTicks(reserved.WaitTicks), PartitionedName));
                    if (cancelInDelay)
                    {
                        waitingPartition.GiveBack(reserved.Slot);
                        Breaker?.Record(generation, probe, timed, CircuitCallResult.Ignored, admittedAt, now);
                        (ending, replaceable) = ("cancelled", false);
                        break;
                    }

                    waitingPartition.Serve();
                    now += reserved.WaitTicks;
                }
            }
            else if (rejection is null && _composition.Partitioned && !_composition.PartitionWaits && Partition(key, now).Take(now) is { Granted: false } refusedInPartition)
            {
                rejection = ("rate_limited", PartitionedName, refusedInPartition.RetryAfter);
            }

            if (rejection is null && _composition.InFlight && InFlightHeld)
            {
                if (!InFlightQueue)
                {
                    rejection = ("rate_limited", InFlightName, null);
                }
                else
                {
                    // A wait in the limiter's queue, until the permit held outside is given back (to this call).
                    Expected.Add(ExpectedMeasurement.Of("resilience.rate_limiter.waits", 1, ("pipeline", Pipeline), ("strategy", InFlightName)));
                    waits.Add(ExpectedWait.Release);
                    if (cancelInDelay)
                    {
                        Breaker?.Record(generation, probe, timed, CircuitCallResult.Ignored, admittedAt, now);
                        (ending, replaceable) = ("cancelled", false);
                        break;
                    }

                    InFlightHeld = false;
                }
            }

            if (rejection is { } rejected)
            {
                if (admitted)
                {
                    // Refused inside the breaker: neither a success nor a failure for it.
                    Breaker?.Record(generation, probe, timed, CircuitCallResult.Ignored, admittedAt, now);
                }

                Expected.Add(ExpectedMeasurement.Of(
                    rejected.Reason == "rate_limited" ? "resilience.rate_limiter.rejections" : "resilience.circuit_breaker.rejections",
                    1,
                    ("pipeline", Pipeline),
                    ("strategy", rejected.Strategy),
                    ("reason", rejected.Reason)));
                ExpectedEvents.Add(rejected.RetryAfter is { } retryAfter
                    ? ExpectedMeasurement.Event("resilience.rejection", ("pipeline", Pipeline), ("strategy", rejected.Strategy), ("reason", rejected.Reason), ("retry_after", retryAfter.TotalSeconds))
                    : ExpectedMeasurement.Event("resilience.rejection", ("pipeline", Pipeline), ("strategy", rejected.Strategy), ("reason", rejected.Reason)));
                (ending, replaceable, failedWithResult) = ("rejected", true, false);
                if (_composition.Retry && RetryRejections && rejected.Reason != "isolated_circuit" && attempt < MaxRetryAttempts
                    && !(rejected.RetryAfter > MaxRetryAfter))
                {
                    if (Budget is { CanRetry: false })
                    {
                        Expected.Add(ExpectedMeasurement.Of("resilience.retry.budget_refusals", 1, ("pipeline", Pipeline), ("strategy", RetryName)));
                        ExpectedEvents.Add(ExpectedMeasurement.Event("resilience.retry.budget_refused", ("pipeline", Pipeline), ("strategy", RetryName)));
                        break;
                    }

                    if (Retry(rejected.RetryAfter ?? _composition.RetryDelay, waits, cancelInDelay, ref now))
                    {
                        continue;
                    }

                    (ending, replaceable) = ("cancelled", false);
                }

                break;
            }

            var kind = attempts < kinds.Length ? kinds[attempts] : AttemptKind.Ok;
            attempts++;
            var (end, result) = kind switch
            {
                AttemptKind.Throws => (now, CircuitCallResult.Failure),
                AttemptKind.FailedResult when _composition.Typed => (now, CircuitCallResult.Failure),
                AttemptKind.Unhandled => (now, CircuitCallResult.Ignored),

                // The innermost predicate that judges it throws: its exception replaces the outcome, unjudged, and no
                // predicate outside handles that.
                AttemptKind.Poison => (now, CircuitCallResult.Ignored),
                AttemptKind.FaultsLater => (now + TimeSpan.FromMilliseconds(40).Ticks, CircuitCallResult.Failure),
                AttemptKind.Quick => (now + TimeSpan.FromMilliseconds(40).Ticks, CircuitCallResult.Success),
                AttemptKind.Hang => (now + Timeout.Ticks, CircuitCallResult.Failure),
                AttemptKind.Cancelled => (now, CircuitCallResult.Ignored),
                _ => (now, CircuitCallResult.Success),
            };
            Breaker?.Record(generation, probe, timed, result, admittedAt, end);
            now = end;
            lastResult = kind == AttemptKind.FailedResult ? -1 : value;
            failedWithResult = kind == AttemptKind.FailedResult;
            if (kind == AttemptKind.Hang)
            {
                Expected.Add(ExpectedMeasurement.Of("resilience.timeout.expired", 1, ("pipeline", Pipeline), ("strategy", TimeoutName)));
                ExpectedEvents.Add(ExpectedMeasurement.Event("resilience.timeout", ("pipeline", Pipeline), ("strategy", TimeoutName), ("timeout", Timeout.TotalSeconds)));
            }

            if (result == CircuitCallResult.Success)
            {
                Budget?.Success();
                (ending, replaceable) = ("success", false);
                break;
            }

            if (kind is AttemptKind.Unhandled or AttemptKind.Poison or AttemptKind.Cancelled)
            {
                (ending, replaceable) = (kind == AttemptKind.Cancelled ? "cancelled" : "failure", false);
                break;
            }

            // A handled failure (a -1 result is one only for a typed pipeline's predicates; a timeout passes the fallback).
            // A -1 result passed on is counted as a failure when some strategy judges results (the telemetry takes the
            // outermost one's predicate); with none, nobody calls it one.
            var judged = _composition.Fallback || _composition.Retry || _composition.Breaker;
            (ending, replaceable) = (kind != AttemptKind.FailedResult || judged ? "failure" : "success", kind != AttemptKind.Hang);
            if (!_composition.Retry)
            {
                break;
            }

            var allowed = Budget?.Failure() ?? true;
            if (attempt >= MaxRetryAttempts)
            {
                break;
            }

            if (!allowed)
            {
                Expected.Add(ExpectedMeasurement.Of("resilience.retry.budget_refusals", 1, ("pipeline", Pipeline), ("strategy", RetryName)));
                ExpectedEvents.Add(ExpectedMeasurement.Event("resilience.retry.budget_refused", ("pipeline", Pipeline), ("strategy", RetryName)));
                break;
            }

            if (!Retry(_composition.RetryDelay, waits, cancelInDelay, ref now))
            {
                (ending, replaceable) = ("cancelled", false);
                break;
            }
        }

        if (_composition.Fallback)
        {
            if (replaceable)
            {
                // The scripted level first: served, or failed and the chain goes on only if it says so; its exception
                // is otherwise the call's outcome, a failure whatever it replaced (a rejection included), and no level served.
                string? served = null;
                var chain = true;
                if (_composition.ScriptedLevel)
                {
                    if (level is FallbackLevelKind.ServesLater or FallbackLevelKind.FailsLater or FallbackLevelKind.CancelledLater)
                    {
                        LevelCompletedLater = true;
                        now += TimeSpan.FromMilliseconds(40).Ticks;
                    }

                    if (level is FallbackLevelKind.Serves or FallbackLevelKind.ServesLater or FallbackLevelKind.ServesFailedResult)
                    {
                        served = ScriptedFallbackLevel.Name;
                    }

                    // Once the caller has cancelled, no next level runs, whatever the chain says.
                    chain = served is null && _composition.LevelTriesNext && level != FallbackLevelKind.CancelledLater;
                }

                if (chain)
                {
                    served = LevelNames[_lastKnownGood.TryGetValue(key, out var good) && now - good.Recorded <= MaxAge.Ticks ? 0 : 1];
                }

                if (served is not null)
                {
                    Expected.Add(ExpectedMeasurement.Of("resilience.fallback.served", 1, ("pipeline", Pipeline), ("strategy", FallbackName), ("level", served)));
                    ExpectedEvents.Add(ExpectedMeasurement.Event("resilience.fallback", ("pipeline", Pipeline), ("strategy", FallbackName), ("level", served)));

                    // A served value is judged as any result (the fallback's predicate, the outermost): -1 is a failure.
                    ending = level == FallbackLevelKind.ServesFailedResult && served == ScriptedFallbackLevel.Name ? "failure" : "success";
                }
                else if (level == FallbackLevelKind.CancelledLater)
                {
                    // The level cut short by the caller's cancellation surfaces it: the caller's own token, cancelled.
                    ending = "cancelled";
                }
                else
                {
                    (ending, LevelFailureSurfaced, OriginalFailureAttached) = ("failure", true, !failedWithResult);
                }
            }
            else if (ending == "success")
            {
                _lastKnownGood[key] = (lastResult, now);
            }
        }

        Expected.Add(ExpectedMeasurement.Of("resilience.pipeline.calls", 1, ("pipeline", Pipeline), ("outcome", ending)));
        Expected.Add(ExpectedMeasurement.Of("resilience.pipeline.duration", TimeSpan.FromTicks(now - start).TotalSeconds, ("pipeline", Pipeline), ("outcome", ending)));
        return (waits, now, ending);
    }

    /// <summary>
    /// The retry is scheduled after <paramref name="delay"/>, waits it (rounded up to whole milliseconds, as a timer
    /// waits) and its attempt begins; false when the caller cancels the wait: no attempt begins.
    /// </summary>
    private bool Retry(TimeSpan delay, List<ExpectedWait> waits, bool cancelInDelay, ref long now)
    {
        delay = delay > TimeSpan.Zero ? delay : TimeSpan.Zero;
        ExpectedEvents.Add(ExpectedMeasurement.Event("resilience.retry", ("pipeline", Pipeline), ("strategy", RetryName), ("delay", delay.TotalSeconds)));
        var wait = TimeSpan.FromMilliseconds(Math.Ceiling(delay.TotalMilliseconds));
        if (wait > TimeSpan.Zero)
        {
            waits.Add(ExpectedWait.For(wait));
            if (cancelInDelay)
            {
                return false;
            }
        }

        now += wait.Ticks;
        Expected.Add(ExpectedMeasurement.Of("resilience.retry.attempts", 1, ("pipeline", Pipeline), ("strategy", RetryName)));
        return true;
    }

    /// <summary>
    /// What the tracked breaker, limiters and budget report when a listener collects at <paramref name="now"/>: the
    /// breaker's state and failure ratio, the bucket's and the concurrency limiter's permits (none queued between calls),
    /// the partitions (none evicted: no partition sits idle for the five minutes that would take) and the budget's
    /// balance. A strategy the composition leaves out is tracked all the same, untouched.
    /// </summary>
    public List<string> Gauges(long now, int unusedBurst, double unusedBalance)
    {
        var (calls, failures) = Breaker?.State switch
        {
            CircuitState.Closed => Breaker.Window(now) is var (c, f, _) ? (c, f) : default,
            CircuitState.HalfOpen => Breaker.ProbeResults(),
            _ => (0L, 0L),
        };
        var partitions = _partitions.Count;
        return
        [
            ExpectedMeasurement.Of("resilience.circuit_breaker.state", (int)(Breaker?.State ?? CircuitState.Closed), ("strategy", BreakerName)),
            ExpectedMeasurement.Of("resilience.circuit_breaker.failure_ratio", calls == 0 ? 0 : (double)failures / calls, ("strategy", BreakerName)),
            ExpectedMeasurement.Of("resilience.rate_limiter.permits_available", Bucket?.Available(now) ?? unusedBurst, ("strategy", BucketName)),
            ExpectedMeasurement.Of("resilience.rate_limiter.permits_available", InFlightHeld ? 0 : 1, ("strategy", InFlightName)),
            ExpectedMeasurement.Of("resilience.rate_limiter.queued", 0, ("strategy", BucketName)),
            ExpectedMeasurement.Of("resilience.rate_limiter.queued", 0, ("strategy", InFlightName)),
            ExpectedMeasurement.Of("resilience.rate_limiter.partitions", partitions, ("strategy", PartitionedName)),
            ExpectedMeasurement.Of("resilience.rate_limiter.partitions_created", partitions, ("strategy", PartitionedName)),
            ExpectedMeasurement.Of("resilience.rate_limiter.partitions_evicted", 0, ("strategy", PartitionedName)),
            ExpectedMeasurement.Of("resilience.retry_budget.balance", Budget is null ? unusedBalance : Budget.Balance / 1000.0, ("strategy", BudgetName)),
        ];
    }

    private TokenBucketModel Partition(string key, long now)
    {
        if (!_partitions.TryGetValue(key, out var bucket))
        {
            // A partition's bucket is made with the partition, on its first call.
            _partitions[key] = bucket = new TokenBucketModel(_partition, now);
        }

        return bucket;
    }
}
