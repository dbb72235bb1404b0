using System.Threading.RateLimiting;
using Resilience.Tests.CircuitBreaker;

namespace Resilience.Tests.Composite;

/// <summary>
/// The reference model of calls in flight together through one pipeline, outermost first: a fallback (last known good
/// value, then a fixed value), a retry with a shared budget and no delay of its own (it waits a rejection's
/// retry-after), a circuit breaker, a per-attempt timeout and a token bucket that may wait (its maximum wait), all on
/// one clock. Written from the documentation, as plain sequential code over a list of timers: each call is a small state
/// machine that the script moves (a call started, an attempt completed, a caller's cancellation) or a timer moves (a
/// timeout, a bucket slot, a retry delay), one event at a time, the earliest timer first (ties: the one armed first).
/// The breaker's rules are those of <see cref="BreakerModel"/> (a call's result counts only in the generation it was
/// admitted in), the bucket's those of <see cref="TokenBucketModel"/>, the budget's those of <see cref="RetryBudgetModel"/>.
/// With <paramref name="inFlight"/>, a concurrency limiter with a queue is outermost: it holds a permit for the whole
/// call, and a call that ends gives it at once to the waiter the queue serves first (the oldest, or with
/// <see cref="QueueProcessingOrder.NewestFirst"/> the newest: then a newcomer also takes a free permit before the
/// waiters, and a full queue drops its oldest waiter, a failed lease, for it).
/// Either limiter may be disposed: the bucket fails its waiters (each a failed lease, its slot given back as a cancelled
/// waiter's; the call is rejected, which the breaker ignores and the retry retries at once, there being no retry-after),
/// and afterwards still grants a permit that is there but refuses a wait; the concurrency limiter fails its queued
/// waiters (failed leases, the callers rejected), lets the calls it admitted finish and give their permits back, and
/// afterwards still admits a call while a permit is free but rejects one that would queue (a failed lease).
/// </summary>
internal sealed class OverlappingCallsModel(
    CircuitBreakerOptions breaker, TokenBucketLimiterOptions bucket, RetryBudgetOptions budget, long originTicks, InFlightLimiterOptions? inFlight = null)
{
    private readonly List<OverlappingTimer> _timers = [];
    private readonly Dictionary<string, (int Value, long Recorded)> _lastKnownGood = [];
    private readonly List<OverlappingCallModel> _queue = [];
    private long _sequence;
    private int _inUse;
    private bool _inFlightDisposed;

    private OverlappingTimeoutSlot? _openSlot;

    /// <summary>
    /// Gets or sets the timeout in force: an attempt is timed by the one in force when it starts. Setting it (even to the
    /// same value) closes the shared slot: the next pass a caller cannot cancel opens a new one.
    /// </summary>
    public TimeSpan Timeout
    {
        get;
        set
        {
            field = value;
            _openSlot = null;
        }
    } = TimeSpan.FromMilliseconds(160);

    /// <summary>Gets the concurrency limiter's successful leases.</summary>
    public long InFlightLeases { get; private set; }

    /// <summary>Gets the concurrency limiter's failed leases: a full queue, a wait timed out (a cancelled waiter is neither).</summary>
    public long InFlightFailures { get; private set; }

    /// <summary>Gets the concurrency limiter's free permits and its waiters (one permit each).</summary>
    public (long Available, long Queued) InFlight => (inFlight is { } options ? options.PermitLimit - _inUse : 0, _queue.Count);

    public BreakerModel Breaker { get; } = new(breaker);

    public TokenBucketModel Bucket { get; } = new(bucket, originTicks);

    public RetryBudgetModel Budget { get; } = new(budget);

    public List<OverlappingCallModel> Calls { get; } = [];

    private bool NewestFirst => inFlight?.QueueProcessingOrder == QueueProcessingOrder.NewestFirst;

    /// <summary>Gets how many timers were armed so far: the pipeline arms one for each (see <see cref="SteppedTimeProvider.Armings"/>).</summary>
    public long Armings => _sequence;

    /// <summary>The due times of the timers armed, earliest first.</summary>
    public IEnumerable<long> DueTimes => _timers.OrderBy(t => t.Due).ThenBy(t => t.Sequence).Select(t => t.Due);

    /// <summary>A call started at <paramref name="now"/>: it runs until it rests.</summary>
    public OverlappingCallModel Start(string key, int value, bool ignoresToken, long now, bool cancellable = true)
    {
        var call = new OverlappingCallModel(Calls.Count, key, value, ignoresToken, cancellable);
        Calls.Add(call);
        if (inFlight is not { } options)
        {
            Pass(call, now);
        }
        else if (_inUse < options.PermitLimit && (_queue.Count == 0 || NewestFirst))
        {
            Take(call);
            Pass(call, now);
        }
        else if (!_inFlightDisposed && (_queue.Count < options.QueueLimit || NewestFirst))
        {
            if (_queue.Count == options.QueueLimit)
            {
                // Newest first: the oldest waiter makes room, with a failed lease, and its caller gets the rejection.
                var oldest = _queue[0];
                _queue.RemoveAt(0);
                Disarm(oldest.Waiting);
                InFlightFailures++;
                End(oldest, now, rejected: true);
            }

            _queue.Add(call);
            call.Stage = OverlappingStage.Queued;
            call.Waiting = Arm(now + options.QueueTimeout!.Value.Ticks, call, OverlappingTimerKind.QueueTimeout);
        }
        else
        {
            // The queue is full, or the limiter disposed (nothing would serve a waiter): a failed lease, and the caller
            // gets the rejection (nothing inside the limiter ran).
            InFlightFailures++;
            End(call, now, rejected: true);
        }

        return call;
    }

    /// <summary>
    /// A call whose caller cancelled before it started: no strategy enters (no permit, no probe, no bucket slot, no budget
    /// token), no attempt runs, and it ends at once with the caller's cancellation.
    /// </summary>
    public OverlappingCallModel StartCancelled(string key, int value, bool ignoresToken, long now)
    {
        var call = new OverlappingCallModel(Calls.Count, key, value, ignoresToken, cancellable: true) { CallerCancelled = true };
        Calls.Add(call);
        End(call, now, exception: typeof(OperationCanceledException));
        return call;
    }

    /// <summary>The script completes the call's attempt with <paramref name="kind"/> (one that completes at once).</summary>
    public void Complete(OverlappingCallModel call, AttemptKind kind, long now)
    {
        Disarm(call.Deadline);

        // A failure that ends a call its caller cancelled is nobody's: not counted, not retried, not replaced.
        var result = kind switch
        {
            AttemptKind.Ok => CircuitCallResult.Success,
            AttemptKind.Unhandled => CircuitCallResult.Ignored,
            _ when call.CallerCancelled => CircuitCallResult.Ignored,
            _ => CircuitCallResult.Failure,
        };
        Breaker.Record(call.Permit.Generation, call.Permit.Probe, call.Permit.Timed, result, call.PassStart, now);
        switch (kind)
        {
            case AttemptKind.Ok:
                Budget.Success();
                _lastKnownGood[call.Key] = (call.Value, now);
                End(call, now, result: (call.Value, null));
                break;
            case AttemptKind.Unhandled:
                // Nobody's failure: neither retried nor replaced.
                End(call, now, exception: typeof(ArgumentException));
                break;
            case AttemptKind.Throws when call.CallerCancelled:
                End(call, now, exception: typeof(InvalidOperationException));
                break;
            case AttemptKind.FailedResult when call.CallerCancelled:
                End(call, now, result: (-1, null));
                break;
            default:
                if (Budget.Failure() && call.Passes <= CompositeModel.MaxRetryAttempts)
                {
                    Pass(call, now);
                }
                else
                {
                    Fallback(call, kind == AttemptKind.Throws ? typeof(InvalidOperationException) : null, now);
                }

                break;
        }
    }

    /// <summary>The caller cancels the call: it ends with the cancellation wherever it rests, counted by no one.</summary>
    public void Cancel(OverlappingCallModel call, long now)
    {
        if (call.CallerCancelled || call.Stage == OverlappingStage.Done)
        {
            return;
        }

        call.CallerCancelled = true;
        switch (call.Stage)
        {
            case OverlappingStage.Attempt when call.IgnoresToken:
                // The timeout's token is cancelled with the caller's (its timer goes), but the attempt runs on to its end.
                Disarm(call.Deadline);
                return;
            case OverlappingStage.Attempt:
                Disarm(call.Deadline);
                Breaker.Record(call.Permit.Generation, call.Permit.Probe, call.Permit.Timed, CircuitCallResult.Ignored, call.PassStart, now);
                break;
            case OverlappingStage.WaitingForPermit:
                // A waiter cancelled before its slot gives the slot back if it can; it is no lease and no failed lease.
                Disarm(call.Deadline);
                Disarm(call.Waiting);
                Bucket.GiveBack(call.Slot);
                Breaker.Record(call.Permit.Generation, call.Permit.Probe, call.Permit.Timed, CircuitCallResult.Ignored, call.PassStart, now);
                break;
            case OverlappingStage.RetryDelay:
                Disarm(call.Waiting);
                break;
            case OverlappingStage.Queued:
                // A waiter that leaves gets no lease, and is no failed lease.
                Disarm(call.Waiting);
                _queue.Remove(call);
                break;
            default:
                return;
        }

        End(call, now, exception: typeof(TaskCanceledException));
    }

    /// <summary>Fires the earliest timer (its due time is now).</summary>
    public void Fire(long now)
    {
        var timer = _timers.OrderBy(t => t.Due).ThenBy(t => t.Sequence).First();
        _timers.Remove(timer);
        var call = timer.Call;
        switch (timer.Kind)
        {
            case OverlappingTimerKind.PermitSlot:
                Bucket.Serve();
                Invoke(call);
                break;
            case OverlappingTimerKind.RetryDelay:
                Pass(call, now);
                break;
            case OverlappingTimerKind.QueueTimeout:
                _queue.Remove(call);
                InFlightFailures++;
                End(call, now, rejected: true);
                break;
            case OverlappingTimerKind.SlotTimeout:
                // Every pass still running in the slot is cut short (the script keeps it to one at most: several would go
                // on together, in no order the model could tell).
                foreach (var running in Calls.Where(c => c.TimeoutSlot?.Timer == timer && c.Stage is OverlappingStage.Attempt or OverlappingStage.WaitingForPermit).ToList())
                {
                    TimeoutFired(running, now);
                }

                break;
            default:
                TimeoutFired(call, now);
                break;
        }
    }

    private void TimeoutFired(OverlappingCallModel call, long now)
    {
        if (call.Stage == OverlappingStage.Attempt && call.IgnoresToken)
        {
            // A callback that ignores its token runs on: the timeout is reported only if it ends with the cancellation.
            return;
        }

        if (call.Stage == OverlappingStage.WaitingForPermit)
        {
            // The timeout outside the bucket cuts the wait short: the slot comes back if it can, and the call
            // times out as an attempt would, a failure for the breaker and the retry.
            Disarm(call.Waiting);
            Bucket.GiveBack(call.Slot);
        }

        TimedOut(call, now);
    }

    /// <summary>
    /// Whether disposing the bucket now moves the calls it fails one way whatever order they go on in: each is retried at
    /// once, on a thread of its own, together with the others (the driver holds them until every waiter has failed).
    /// So none may find a permit there (the first waiter's slot is still ahead), nor a wait past the maximum (a refusal
    /// with a retry-after: retries timed alike would fire in the order the pipeline armed them), nor a breaker with probe
    /// slots to compete for or a break to wait out.
    /// </summary>
    public bool BucketDisposalIsOrderFree(long now) =>
        Breaker.State is CircuitState.Closed or CircuitState.Isolated
        && Bucket.MaxWait > TimeSpan.Zero
        && Bucket.WouldWaitOnceGivenBack(BucketWaitersLatestFirst.Select(c => c.Slot), now);

    private IEnumerable<OverlappingCallModel> BucketWaitersLatestFirst =>
        Calls.Where(c => c.Stage == OverlappingStage.WaitingForPermit).OrderByDescending(c => c.Waiting!.Sequence);

    /// <summary>
    /// The bucket is disposed: every waiter fails at once (the latest first, each slot given back as a cancelled
    /// waiter's), and its call is rejected, ignored by the breaker, retried at once while it may. Returns the bucket's
    /// permits there and failed leases as disposal leaves them, before the calls go on.
    /// </summary>
    public (long Available, long Failures) DisposeBucket(long now)
    {
        var waiters = BucketWaitersLatestFirst.ToList();
        Bucket.Dispose(waiters.Select(c => c.Slot));
        var disposed = (Bucket.Available(now), Bucket.Failures);
        foreach (var call in waiters)
        {
            Disarm(call.Waiting);
            Disarm(call.Deadline);
            Breaker.Record(call.Permit.Generation, call.Permit.Probe, call.Permit.Timed, CircuitCallResult.Ignored, call.PassStart, now);
            Rejected(call, typeof(RateLimiterRejectedException), retryable: true, null, now);
        }

        return disposed;
    }

    /// <summary>
    /// The concurrency limiter is disposed: its queued waiters fail (failed leases, their callers rejected); the calls
    /// it admitted go on and give their permits back as they end.
    /// </summary>
    public void DisposeInFlight(long now)
    {
        _inFlightDisposed = true;
        var queued = _queue.ToList();
        _queue.Clear();
        foreach (var call in queued)
        {
            Disarm(call.Waiting);
            InFlightFailures++;
            End(call, now, rejected: true);
        }
    }

    private void TimedOut(OverlappingCallModel call, long now)
    {
        Breaker.Record(call.Permit.Generation, call.Permit.Probe, call.Permit.Timed, CircuitCallResult.Failure, call.PassStart, now);
        if (Budget.Failure() && call.Passes <= CompositeModel.MaxRetryAttempts)
        {
            Pass(call, now);
        }
        else
        {
            // The fallback lets timeouts through.
            // The fallback lets timeouts through; the exception names the timeout the attempt was armed with.
            End(call, now, exception: typeof(TimeoutRejectedException));
        }
    }

    /// <summary>One pass through the breaker, the timeout and the bucket, to the callback or a rejection.</summary>
    private void Pass(OverlappingCallModel call, long now)
    {
        call.Passes++;
        var (admitted, generation, probe, timed, breakerRetryAfter) = Breaker.Acquire(now);
        if (!admitted)
        {
            if (Breaker.State == CircuitState.Isolated)
            {
                Rejected(call, typeof(IsolatedCircuitException), retryable: false, null, now);
            }
            else
            {
                Rejected(call, typeof(BrokenCircuitException), retryable: true, breakerRetryAfter, now);
            }

            return;
        }

        call.Permit = (generation, probe, timed);
        call.PassStart = now;
        if (call.Cancellable)
        {
            call.Deadline = Arm(now + Timeout.Ticks, call, OverlappingTimerKind.Timeout);
        }
        else
        {
            // No caller to link: the pass joins the open slot (not fired, armed for this timeout) or opens one, which
            // takes passes for a sixteenth of the timeout and times them out one timeout after it closes.
            if (_openSlot is not { } open || now >= open.OpenUntil || open.Timeout != Timeout || !_timers.Contains(open.Timer))
            {
                var length = Timeout.Ticks / 16;
                _openSlot = new OverlappingTimeoutSlot(now + length, Timeout, Arm(now + length + Timeout.Ticks, call, OverlappingTimerKind.SlotTimeout));
            }

            call.TimeoutSlot = _openSlot;
        }

        call.ArmedTimeout = Timeout;
        var (granted, waitTicks, retryAfter, slot) = Bucket.Reserve(now);
        if (!granted)
        {
            // Refused at once (the wait would pass the maximum): a rejection, which the breaker does not count.
            Disarm(call.Deadline);
            Breaker.Record(generation, probe, timed, CircuitCallResult.Ignored, now, now);
            Rejected(call, typeof(RateLimiterRejectedException), retryable: true, retryAfter, now);
            return;
        }

        if (waitTicks > 0)
        {
            call.Slot = slot;
            call.Waiting = Arm(now + waitTicks, call, OverlappingTimerKind.PermitSlot);
            call.Stage = OverlappingStage.WaitingForPermit;
            return;
        }

        Invoke(call);
    }

    private static void Invoke(OverlappingCallModel call)
    {
        call.Attempts++;
        call.Stage = OverlappingStage.Attempt;
    }

    private void Rejected(OverlappingCallModel call, Type type, bool retryable, TimeSpan? retryAfter, long now)
    {
        // Retried after its retry-after (a timer's whole milliseconds), while the budget allows retries, unless longer
        // than the retry waits for; a rejection takes no token. One with no retry-after (a disposed bucket's) is retried
        // after the retry's own delay: none.
        if (retryable && call.Passes <= CompositeModel.MaxRetryAttempts && Budget.CanRetry && !(retryAfter > CompositeModel.MaxRetryAfter))
        {
            var delay = TimeSpan.FromMilliseconds(Math.Ceiling((retryAfter ?? TimeSpan.Zero).TotalMilliseconds));
            if (delay > TimeSpan.Zero)
            {
                call.Waiting = Arm(now + delay.Ticks, call, OverlappingTimerKind.RetryDelay);
                call.Stage = OverlappingStage.RetryDelay;
                return;
            }

            Pass(call, now);
            return;
        }

        Fallback(call, type, now);
    }

    private void Fallback(OverlappingCallModel call, Type? replaced, long now)
    {
        call.Replaced = replaced;
        var level = _lastKnownGood.TryGetValue(call.Key, out var good) && now - good.Recorded <= CompositeModel.MaxAge.Ticks
            ? (good.Value, (int?)0)
            : (CompositeModel.StaticValue, 1);
        End(call, now, result: level);
    }

    private void End(OverlappingCallModel call, long now, (int, int?)? result = null, Type? exception = null, bool rejected = false)
    {
        call.Stage = OverlappingStage.Done;
        call.Result = result;
        call.Exception = exception;
        call.Rejected = rejected;
        call.Deadline = null;
        call.Waiting = null;
        if (call.HoldsPermit)
        {
            // The limiter is outermost: its permit goes back as the call ends, to the oldest waiter first, which goes
            // on at once.
            call.HoldsPermit = false;
            _inUse--;
            if (_queue.Count > 0 && _inUse < inFlight!.PermitLimit)
            {
                var next = NewestFirst ? _queue[^1] : _queue[0];
                _queue.Remove(next);
                Disarm(next.Waiting);
                Take(next);
                Pass(next, now);
            }
        }
    }

    private void Take(OverlappingCallModel call)
    {
        _inUse++;
        InFlightLeases++;
        call.HoldsPermit = true;
    }

    private OverlappingTimer Arm(long due, OverlappingCallModel call, OverlappingTimerKind kind)
    {
        var timer = new OverlappingTimer(due, ++_sequence, call, kind);
        _timers.Add(timer);
        return timer;
    }

    private void Disarm(OverlappingTimer? timer)
    {
        if (timer is not null)
        {
            _timers.Remove(timer);
        }
    }
}
