using Resilience.Tests.CircuitBreaker;

namespace Resilience.Tests.Composite;

/// <summary>
/// The reference model of a pipeline built of the built-in strategies, outermost first: a fallback (last known good
/// value, then a fixed value), a retry with a shared budget and no delay of its own (it waits a rejection's retry-after), a circuit breaker, a token bucket and a
/// timeout, all on one clock. Written from the documentation of each strategy, in plain sequential code: for each call it
/// says which attempts reach the callback, what the breaker, the bucket and the budget count, when the call ends and what
/// its caller gets. The breaker's own rules are those of <see cref="BreakerModel"/>.
/// </summary>
internal sealed class CompositeModel(
    CircuitBreakerOptions breaker, TokenBucketLimiterOptions bucket, RetryBudgetOptions budget, long originTicks)
{
    public const int MaxRetryAttempts = 2;
    public const int StaticValue = 7;

    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaxRetryAfter = TimeSpan.FromMilliseconds(300);

    private static readonly (Type? Type, TimeSpan? RetryAfter) NoFailure = default;

    private readonly Dictionary<string, (int Value, long Recorded)> _lastKnownGood = [];

    // The timeout's shared slot (calls without a cancellable token): calls entering before OpenUntil share its source,
    // which fires at Deadline, a sixteenth of the timeout after the slot closes plus the timeout.
    private long _slotOpenUntil = long.MinValue;
    private long _slotDeadline;

    public BreakerModel Breaker { get; } = new(breaker);

    public TokenBucketModel Bucket { get; } = new(bucket, originTicks);

    public RetryBudgetModel Budget { get; } = new(budget);

    /// <summary>Gets the timeout in force.</summary>
    public TimeSpan Timeout { get; private set; } = TimeSpan.FromMilliseconds(160);

    /// <summary>Gets or sets whether the retry retries a limiter's and an open breaker's rejections (its live options).</summary>
    public bool RetryRejections { get; set; } = true;

    /// <summary>A new timeout, for attempts that start from now on: the shared slot of the old one takes no more calls.</summary>
    public void UpdateTimeout(TimeSpan timeout)
    {
        Timeout = timeout;
        _slotOpenUntil = long.MinValue;
    }

    /// <summary>
    /// A call made at <paramref name="start"/>; <paramref name="cancellable"/>: the caller passed a token that can be
    /// cancelled; <paramref name="cancelInDelay"/>: the caller cancels it in its first retry delay.
    /// </summary>
    public ExpectedCall Call(string key, int value, AttemptKind[] kinds, bool cancellable, bool cancelInDelay, long start)
    {
        var now = start;
        var attempts = 0;
        var delays = new List<TimeSpan>();
        int? result = null;
        Type? failure = null;
        (Type? Type, TimeSpan? RetryAfter) replaced = default;
        var fallback = false;
        var timedOutAfter = Timeout;
        for (var attempt = 0; ; attempt++)
        {
            var (admitted, generation, probe, timed, breakerRetryAfter) = Breaker.Acquire(now);
            (Type Type, RejectionReason Reason, TimeSpan? RetryAfter)? rejection = null;
            if (!admitted)
            {
                rejection = Breaker.State == CircuitState.Isolated
                    ? (typeof(IsolatedCircuitException), RejectionReason.IsolatedCircuit, null)
                    : (typeof(BrokenCircuitException), RejectionReason.BrokenCircuit, breakerRetryAfter);
            }
            else if (Bucket.Take(now) is { Granted: false } refused)
            {
                // Refused by the bucket inside the breaker: neither a success nor a failure for it (a probe's slot is
                // given back).
                Breaker.Record(generation, probe, timed, CircuitCallResult.Ignored, now, now);
                rejection = (typeof(RateLimiterRejectedException), RejectionReason.RateLimited, refused.RetryAfter);
            }

            if (rejection is { } rejected)
            {
                // A rejection takes no token; the retry retries a limiter's or an open breaker's (never an isolated
                // one's) when asked to, while the budget allows retries, after its retry-after (a timer's whole
                // milliseconds, rounded up), unless that is longer than it waits for.
                if (RetryRejections && rejected.Reason != RejectionReason.IsolatedCircuit && attempt < MaxRetryAttempts
                    && Budget.CanRetry && rejected.RetryAfter <= MaxRetryAfter)
                {
                    var delay = TimeSpan.FromMilliseconds(Math.Ceiling(rejected.RetryAfter.Value.TotalMilliseconds));
                    if (delay > TimeSpan.Zero)
                    {
                        delays.Add(delay);
                        if (cancelInDelay)
                        {
                            // The caller's cancellation ends the wait: no further attempt, nothing counted, no fallback.
                            return new ExpectedCall(attempts, null, null, typeof(TaskCanceledException), NoFailure, delays, now);
                        }
                    }

                    now += delay.Ticks;
                    continue;
                }

                // Not retried: the fallback replaces it.
                (result, failure, fallback, replaced) = (null, null, true, (rejected.Type, rejected.RetryAfter));
                break;
            }

            var deadline = cancellable ? now + Timeout.Ticks : SharedDeadline(now);
            timedOutAfter = Timeout;
            var kind = attempts < kinds.Length ? kinds[attempts] : AttemptKind.Ok;
            attempts++;
            var (end, outcome) = kind switch
            {
                AttemptKind.Throws => (now, CircuitCallResult.Failure),
                AttemptKind.FailedResult => (now, CircuitCallResult.Failure),
                AttemptKind.Unhandled => (now, CircuitCallResult.Ignored),
                AttemptKind.Quick => (now + TimeSpan.FromMilliseconds(40).Ticks, CircuitCallResult.Success),
                AttemptKind.Slow => (now + TimeSpan.FromMilliseconds(120).Ticks, CircuitCallResult.Success),
                AttemptKind.Late => (now + TimeSpan.FromMilliseconds(200).Ticks, CircuitCallResult.Success),
                AttemptKind.Hang => (deadline, CircuitCallResult.Failure),

                // The caller's cancellation: neither a success nor a failure, and never retried nor replaced.
                AttemptKind.Cancelled => (now, CircuitCallResult.Ignored),
                _ => (now, CircuitCallResult.Success),
            };
            Breaker.Record(generation, probe, timed, outcome, now, end);
            now = end;
            (result, failure, fallback, replaced) = kind switch
            {
                AttemptKind.Unhandled => ((int?)null, typeof(ArgumentException), false, NoFailure),
                AttemptKind.Cancelled => (null, typeof(TaskCanceledException), false, NoFailure),
                AttemptKind.Hang => (null, typeof(TimeoutRejectedException), false, NoFailure),
                AttemptKind.Throws => (null, null, true, (typeof(InvalidOperationException), null)),
                AttemptKind.FailedResult => (-1, null, true, NoFailure),
                _ => (value, null, false, NoFailure),
            };

            if (outcome == CircuitCallResult.Success)
            {
                Budget.Success();
                break;
            }

            if (kind is AttemptKind.Unhandled or AttemptKind.Cancelled)
            {
                break;
            }

            // A handled failure takes a token; the balance it left decides the retry.
            if (!Budget.Failure() || attempt >= MaxRetryAttempts)
            {
                break;
            }
        }

        if (fallback)
        {
            // The fallback's chain: the last good value of the key while young enough, else the fixed value.
            return _lastKnownGood.TryGetValue(key, out var good) && now - good.Recorded <= MaxAge.Ticks
                ? new ExpectedCall(attempts, good.Value, 0, null, replaced, delays, now)
                : new ExpectedCall(attempts, StaticValue, 1, null, replaced, delays, now);
        }

        if (failure is not null)
        {
            // A timeout (reporting the timeout the attempt started with), an unhandled failure and the caller's
            // cancellation pass the fallback (its predicate does not handle the first two; it never runs for the third).
            return new ExpectedCall(attempts, null, null, failure, default, delays, now) { TimedOutAfter = failure == typeof(TimeoutRejectedException) ? timedOutAfter : null };
        }

        _lastKnownGood[key] = (result!.Value, now);
        return new ExpectedCall(attempts, result, null, null, default, delays, now);
    }

    private long SharedDeadline(long now)
    {
        if (now >= _slotOpenUntil)
        {
            var length = Timeout.Ticks / 16;
            _slotOpenUntil = now + length;
            _slotDeadline = now + length + Timeout.Ticks;
        }

        return _slotDeadline;
    }
}
