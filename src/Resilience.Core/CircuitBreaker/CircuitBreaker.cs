using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Resilience.Time;

namespace Resilience;

/// <summary>
/// A lock-free circuit breaker over a sliding time window: it opens on a failure ratio, a slow-call ratio or a run of
/// consecutive failures, lets a bounded number of probes through once the break has passed, and can be held open or
/// reset by hand. Use it directly (<see cref="TryAcquire"/>, then <see cref="Record(in CircuitPermit, CircuitCallResult)"/>)
/// or in pipelines (<c>AddCircuitBreaker</c>); one instance can serve every pipeline that calls the same dependency.
/// </summary>
/// <remarks>
/// <para>
/// Every transition is one compare-and-swap on a 64-bit word holding the state, the probes admitted, the consecutive
/// re-openings and a generation that changes on every transition. A permit remembers its generation: a result that
/// arrives after the breaker moved on is not counted against the new window and does not touch another round's probes.
/// The few values that go with a generation (the break's end, the probe deadline, the probe results, the run of
/// failures) each carry that generation in their own word, so a thread preempted across transitions can never
/// overwrite a newer generation's value.
/// </para>
/// <para>
/// No call path takes a lock or allocates; a transition allocates only the event it raises, and only when someone
/// listens. Handlers run on the thread that caused the transition, after it took effect; an exception a handler throws
/// reaches that caller once every other handler has run.
/// </para>
/// </remarks>
public sealed class CircuitBreaker
{
    // Permit token: generation (bits 32-63), probe (bit 31), acquired (bit 30), start in milliseconds (bits 0-29; 0:
    // untimed). Durations measured from the start wrap after 12 days, far beyond any slow-call duration.
    internal const long ProbeFlag = 1L << 31;
    internal const long AcquiredFlag = 1L << 30;
    private const long StartMask = AcquiredFlag - 1;

    // State word: state (bits 0-1), probes admitted in the half-open round (bits 2-17), consecutive re-openings
    // (bits 18-31, saturating), generation (bits 32-63).
    private const long GenerationMask = unchecked((long)0xFFFF_FFFF_0000_0000);
    private const int ProbeShift = 2;
    private const long ProbeMask = 0xFFFF;
    private const int ReopeningShift = 18;
    private const int MaxReopenings = 0x3FFF;

    private readonly MonotonicClock _clock;
    private readonly SeededRandom _jitter;
    private readonly Lock _reconfiguration = new();
    private CircuitBreakerSettings _settings;
    private CircuitWindow _window;

    private long _state;

    // Time words: the generation's low 24 bits (bits 40-63) above a time in milliseconds of the breaker's clock
    // (bits 0-39, wrapping after 34 years; compared by signed 40-bit difference).
    private const int TimeBits = 40;
    private const int TimeGenerationBits = 64 - TimeBits;
    private const long TimeMask = (1L << TimeBits) - 1;
    private const uint TimeGenerationMask = (1u << TimeGenerationBits) - 1;

    // The longest a time word can be ahead of a reading of the clock: a day's break or probe timeout (the options' cap),
    // rounded up to the millisecond, read with a clock reading made up to a day before the word was written.
    private const long MaxMillisecondsLeft = 2 * 24 * 60 * 60 * 1000L;

    private long _openUntil;
    private long _probeDeadline;

    // Count words: the generation (bits 32-63) above a count.
    private long _probeResults;   // failures (bits 16-31), successes (bits 0-15)
    private long _failureRun;     // failures (bits 0-30), a run complete and opening the breaker (bit 31)

    // Set by the failure that completes a run, until the breaker opens: a success that meets it cannot break a run that
    // has decided, and completes the opening itself (see UpdateFailureRun).
    private const uint RunComplete = 1u << 31;

    // What UpdateFailureRun returns for a success that met a complete run: at or above any ConsecutiveFailures.
    private const int OpeningUnderWay = int.MaxValue;

    /// <summary>Initializes a new breaker, closed.</summary>
    /// <param name="options">The options; validated and copied.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range.</exception>
    public CircuitBreaker(CircuitBreakerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _settings = new CircuitBreakerSettings(options);
        _clock = MonotonicClock.From(options.TimeProvider);
        _jitter = new SeededRandom(options.JitterSeed);
        _window = new CircuitWindow(this, _settings.BucketCount, _settings.BucketTicks);
        Name = string.IsNullOrEmpty(options.Name) ? nameof(CircuitBreaker) : options.Name;
    }

    /// <summary>Raised on every change of state, after the event of that state (<see cref="Opened"/> and so on).</summary>
    public event EventHandler<CircuitTransition>? Transitioned;

    /// <summary>Raised when the breaker opens, with the reason and the figures that opened it.</summary>
    public event EventHandler<CircuitTransition>? Opened;

    /// <summary>Raised when a half-open round starts: the break passed, or the previous round's probes timed out.</summary>
    public event EventHandler<CircuitTransition>? HalfOpened;

    /// <summary>Raised when the breaker closes: enough probes succeeded, or <see cref="Close"/> was called.</summary>
    public event EventHandler<CircuitTransition>? Closed;

    /// <summary>Raised when <see cref="Isolate"/> holds the breaker open.</summary>
    public event EventHandler<CircuitTransition>? Isolated;

    /// <summary>Gets the breaker's name.</summary>
    public string Name { get; }

    /// <summary>Gets the current state. An open breaker whose break has passed reports <see cref="CircuitState.Open"/> until a call moves it to half-open.</summary>
    public CircuitState State => StateOf(Volatile.Read(ref _state));

    /// <summary>Gets a copy of the options in force (with the name, clock and jitter seed it was built with).</summary>
    public CircuitBreakerOptions Options => Volatile.Read(ref _settings).Options.Clone();

    internal long NowTicks => _clock.NowTicks;

    internal uint Generation => GenerationOf(Volatile.Read(ref _state));

    /// <summary>Gets the probes admitted and not given back in the current half-open round (for tests and diagnostics).</summary>
    internal int ProbesAdmitted => ProbesOf(Volatile.Read(ref _state));

    internal bool TracksSlowCalls => _settings.SlowCallTicks > 0;

    internal ref readonly MonotonicClock Clock => ref _clock;

    internal CircuitWindow Window => Volatile.Read(ref _window);

    /// <summary>Asks permission for one call.</summary>
    /// <param name="permit">
    /// The permit to report back with <see cref="Record(in CircuitPermit, CircuitCallResult)"/> when acquired;
    /// otherwise the reason and, while open or half-open, the time until a probe may go through.
    /// </param>
    /// <returns><see langword="true"/> when the call may go ahead.</returns>
    public bool TryAcquire(out CircuitPermit permit)
    {
        permit = AcquireCore(stampStart: true);
        return permit.IsAcquired;
    }

    /// <summary>
    /// Reports how a permitted call ended. With slow-call tracking on, its duration is measured from
    /// <see cref="TryAcquire"/> on the breaker's clock. A permit of an earlier generation, or one not acquired, changes nothing.
    /// Report each permit once: a permit is a plain value with no record of its use, so reporting it again counts another
    /// call (another failure towards <see cref="CircuitBreakerOptions.ConsecutiveFailures"/>, another probe result).
    /// </summary>
    /// <param name="permit">The permit <see cref="TryAcquire"/> gave.</param>
    /// <param name="result">How the call ended.</param>
    public void Record(in CircuitPermit permit, CircuitCallResult result)
    {
        CheckResult(result);
        if (permit.IsAcquired)
        {
            RecordCore(permit.Token, result, -1, NowUnlessIgnored(result))?.Throw();
        }
    }

    /// <summary>Reports how a permitted call ended and how long it took (measured by the caller, for example with a precise clock).</summary>
    /// <param name="permit">The permit <see cref="TryAcquire"/> gave.</param>
    /// <param name="result">How the call ended.</param>
    /// <param name="duration">How long the call took; compared with <see cref="CircuitBreakerOptions.SlowCallDuration"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="duration"/> is negative.</exception>
    public void Record(in CircuitPermit permit, CircuitCallResult result, TimeSpan duration)
    {
        CheckResult(result);
        ArgumentOutOfRangeException.ThrowIfLessThan(duration, TimeSpan.Zero);
        if (permit.IsAcquired)
        {
            RecordCore(permit.Token, result, duration.Ticks, NowUnlessIgnored(result))?.Throw();
        }
    }

    /// <summary>Holds the breaker open until <see cref="Close"/>: every call is rejected with <see cref="IsolatedCircuitException"/>. Does nothing when already isolated.</summary>
    public void Isolate() => Force(CircuitState.Isolated);

    /// <summary>Resets the breaker: closed, with a fresh window and the base break duration, whatever its state. Calls admitted before no longer count.</summary>
    public void Close() => Force(CircuitState.Closed);

    /// <summary>
    /// Gets the state and its figures: while closed, the sliding window; while half-open, the probes that reported
    /// in this round (slow probes count as failed); while open or isolated, zeros.
    /// </summary>
    /// <returns>The snapshot.</returns>
    public CircuitSnapshot GetSnapshot()
    {
        var now = _clock.NowTicks;
        var state = Volatile.Read(ref _state);
        return FiguresOf(StateOf(state), GenerationOf(state), now);
    }

    /// <summary>Gets a snapshot and, while open, the time until the next call is let through as a probe (zero once the break has passed).</summary>
    internal CircuitSnapshot GetSnapshot(out TimeSpan? retryAfter)
    {
        var now = _clock.NowTicks;
        var state = Volatile.Read(ref _state);
        var generation = GenerationOf(state);

        // The break's end is published before the state: read after it, it is this break's.
        retryAfter = StateOf(state) == CircuitState.Open
            ? TimeSpan.FromMilliseconds(Math.Max(0, MillisecondsLeft(Volatile.Read(ref _openUntil), generation, now)))
            : null;
        return FiguresOf(StateOf(state), generation, now);
    }

    /// <summary>
    /// Applies new options to the live breaker. Thresholds, durations and probe settings apply from the next decision;
    /// state, generation and window are kept. When <see cref="CircuitBreakerOptions.SamplingDuration"/> or
    /// <see cref="CircuitBreakerOptions.BucketCount"/> changes, the window is rebuilt with the counts that fit: each
    /// bucket's counts move to the new bucket that holds the old bucket's end (so they expire no earlier, and at most
    /// one bucket later), counts older than the new window are dropped, and a call recorded while the window is being
    /// rebuilt may be missed (at most one per recording thread). <see cref="CircuitBreakerOptions.TimeProvider"/>,
    /// <see cref="CircuitBreakerOptions.Name"/> and <see cref="CircuitBreakerOptions.JitterSeed"/> are fixed at construction.
    /// </summary>
    /// <param name="options">The new options; validated as a whole before anything changes.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range; nothing was changed.</exception>
    public void UpdateOptions(CircuitBreakerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);

        // The options in force keep what is fixed at construction, whatever the update says of it.
        var constructed = Volatile.Read(ref _settings).Options;
        options = options.Clone();
        options.Name = constructed.Name;
        options.TimeProvider = constructed.TimeProvider;
        options.JitterSeed = constructed.JitterSeed;
        var settings = new CircuitBreakerSettings(options);

        // Reconfiguration is rare and on no call path: the lock only keeps two concurrent updates from pairing one's
        // window with the other's settings. Calls keep running, lock-free, meanwhile.
        lock (_reconfiguration)
        {
            var old = _window;
            if (settings.BucketCount != old.BucketCount || settings.BucketTicks != old.BucketTicks)
            {
                // Recorders move to the new window first; the old counts follow, so none is counted twice.
                var window = new CircuitWindow(this, settings.BucketCount, settings.BucketTicks);
                Volatile.Write(ref _window, window);
                var now = _clock.NowTicks;
                var state = Volatile.Read(ref _state);
                if (StateOf(state) == CircuitState.Closed)
                {
                    window.CopyFrom(old, now, GenerationOf(state));
                }
            }

            if (settings.ConsecutiveFailures > 0 && _settings.ConsecutiveFailures == 0)
            {
                // While the trigger was off, successes did not end the run: what is left of it is no run. Written
                // before the settings, so no recorder that counts runs can be erased.
                Volatile.Write(ref _failureRun, Tagged(GenerationOf(Volatile.Read(ref _state)), 0));
            }

            Volatile.Write(ref _settings, settings);
        }
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name} ({State})";

    /// <summary>
    /// A start stamp for a token: never zero, which means "untimed". A start that wraps to zero is stamped a millisecond
    /// early rather than late, so the call measures longer, never shorter, and cannot escape the slow-call duration.
    /// </summary>
    internal static long StartStamp(long milliseconds)
    {
        var stamp = milliseconds & StartMask;
        return stamp == 0 ? StartMask : stamp;
    }

    internal static bool IsTimed(long token) => (token & StartMask) != 0;

    /// <summary>
    /// The time since the token's start stamp, in ticks: the whole milliseconds between the truncated ends, taken to the
    /// end of the last one. The true length is less than a millisecond over the whole milliseconds, so this bound keeps a
    /// call at least <see cref="CircuitBreakerOptions.SlowCallDuration"/> long from being measured shorter, whatever the
    /// duration's fraction of a millisecond.
    /// </summary>
    internal static long ElapsedTicks(long token, long nowMilliseconds) =>
        (((nowMilliseconds - (token & StartMask)) & StartMask) * TimeSpan.TicksPerMillisecond) + (TimeSpan.TicksPerMillisecond - 1);

    /// <summary>Asks permission for one call.</summary>
    /// <param name="stampStart">Whether to stamp the start time in the token (slow-call tracking on the breaker's clock).</param>
    /// <returns>
    /// The permit: acquired, or refused with its packed rejection. Returned in two registers, where two <c>out</c>
    /// arguments would be stored to the caller's stack and read back at once (a stalled store forward when the caller's
    /// frame was just zeroed, as the engine's is).
    /// </returns>
    /// <exception cref="Exception">
    /// A transition handler threw while this call started a half-open round: every handler ran and the probe slot was
    /// given back. In a pipeline the engine makes it the call's outcome, as for any strategy that throws on entry.
    /// </exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal CircuitPermit AcquireCore(bool stampStart)
    {
        var state = Volatile.Read(ref _state);
        if (StateOf(state) == CircuitState.Closed)
        {
            // The closed path reads no clock unless slow-call tracking needs a start time.
            var token = (state & GenerationMask) | AcquiredFlag;
            if (stampStart && _settings.SlowCallTicks > 0)
            {
                token |= StartStamp(Milliseconds(_clock.NowTicks));
            }

            return new CircuitPermit(token, 0);
        }

        return AcquireSlow(stampStart);
    }


    /// <summary>Counts how a permitted call ended.</summary>
    /// <param name="token">The permit's token.</param>
    /// <param name="result">How the call ended.</param>
    /// <param name="elapsedTicks">The call's duration when the caller measured it; -1 to measure it from the token.</param>
    /// <param name="now">A reading of the breaker's clock made once the call ended (and before this call); unused for an ignored result.</param>
    /// <returns>
    /// An exception a transition handler threw (the transition took effect; every handler ran), handed back rather
    /// than thrown, so the pipeline can make it the call's outcome; otherwise <see langword="null"/>.
    /// </returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ExceptionDispatchInfo? RecordCore(long token, CircuitCallResult result, long elapsedTicks, long now)
    {
        if ((token & ProbeFlag) != 0)
        {
            return RecordProbe(token, result, elapsedTicks, now);
        }

        if (result == CircuitCallResult.Ignored)
        {
            return null;
        }

        // The clock was read before the state: a result that races a transition is stamped no later than the
        // transition, so its count can never look newer than the next generation's (see CircuitWindow).
        var generation = (uint)(token >>> 32);
        if (GenerationOf(Volatile.Read(ref _state)) != generation)
        {
            // Admitted before the breaker moved on: not counted against the new window.
            return null;
        }

        var settings = _settings;
        var slow = settings.SlowCallTicks > 0 && IsSlow(token, elapsedTicks, now, settings);
        var failure = result == CircuitCallResult.Failure;
        var window = _window;
        window.Record(now, generation, failure, slow);
        return failure || slow || settings.ConsecutiveFailures > 0
            ? RecordFailureOrRun(settings, window, generation, failure, slow, now)
            : null;
    }

    internal static CircuitState StateOf(long state) => (CircuitState)(state & 3);

    private static uint GenerationOf(long state) => (uint)(state >>> 32);

    private static int ProbesOf(long state) => (int)((state >> ProbeShift) & ProbeMask);

    private static int ReopeningsOf(long state) => (int)((state >> ReopeningShift) & MaxReopenings);

    private static long Pack(CircuitState state, int probes, int reopenings, uint generation) =>
        ((long)generation << 32) | ((long)reopenings << ReopeningShift) | ((long)probes << ProbeShift) | (long)state;

    private static long Tagged(uint generation, uint value) => ((long)generation << 32) | value;

    private static bool IsBefore(uint a, uint b) => (int)(a - b) < 0;

    private static long Milliseconds(long ticks) => ticks / TimeSpan.TicksPerMillisecond;

    // Ends and deadlines round up to the millisecond, so a break or a probe timeout is never cut short.
    private static long CeilingMilliseconds(long ticks) => (ticks + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond;

    // The signed difference of two times of a time word.
    private static long TimeDifference(long a, long b) => ((a - b) << TimeGenerationBits) >> TimeGenerationBits;

    /// <summary>
    /// Milliseconds left until the time in a time word of <paramref name="generation"/>; zero or less when passed or when
    /// the word belongs to another generation. No break or probe timeout is longer than a day, so more than
    /// <see cref="MaxMillisecondsLeft"/> left is a time the clock has passed by more than half the word's span (17 years),
    /// which the signed difference reads as ahead: passed, not years still to wait.
    /// </summary>
    private static long MillisecondsLeft(long word, uint generation, long now)
    {
        var left = (uint)(word >>> TimeBits) == (generation & TimeGenerationMask) ? TimeDifference(word, Milliseconds(now)) : 0;
        return left > MaxMillisecondsLeft ? 0 : left;
    }

    /// <summary>Raises the time in a time word to at least <paramref name="milliseconds"/> for <paramref name="generation"/>, leaving a later generation's word alone.</summary>
    private void RaiseTime(ref long word, uint generation, long milliseconds)
    {
        var tag = generation & TimeGenerationMask;
        var next = ((long)tag << TimeBits) | (milliseconds & TimeMask);
        while (true)
        {
            var current = Volatile.Read(ref word);
            var currentTag = (uint)(current >>> TimeBits);
            bool keep;
            if (currentTag == tag)
            {
                // A time more than MaxMillisecondsLeft later than the one raising it was written decades ago (the
                // difference wrapped): it is passed, not later.
                var difference = TimeDifference(next, current);
                keep = difference <= 0 && difference >= -MaxMillisecondsLeft;
            }
            else
            {
                // A word is later only when written for a generation up to one past the state's (no writer writes
                // further ahead; the state is read after the word, so it is at least as new as that writer's). The
                // 24-bit tag alone cannot tell: a word left by a break millions of transitions ago (resets and
                // timed-out rounds write no break end) would look later half the time and keep every break from
                // being written.
                var ahead = GenerationOf(Volatile.Read(ref _state)) + 1 - generation;
                keep = ahead > TimeGenerationMask || ((currentTag - tag) & TimeGenerationMask) <= ahead;
            }

            if (keep || Interlocked.CompareExchange(ref word, next, current) == current)
            {
                return;
            }
        }
    }

    /// <summary>Reads the clock for a result that counts; an ignored one needs no time.</summary>
    private long NowUnlessIgnored(CircuitCallResult result) => result == CircuitCallResult.Ignored ? 0 : _clock.NowTicks;

    private static void CheckResult(CircuitCallResult result)
    {
        if ((uint)result > (uint)CircuitCallResult.Ignored)
        {
            throw new ArgumentOutOfRangeException(nameof(result), result, "The result must be Success, Failure or Ignored.");
        }
    }

    private bool IsSlow(long token, long elapsedTicks, long now, CircuitBreakerSettings settings)
    {
        if (elapsedTicks < 0)
        {
            if (!IsTimed(token))
            {
                // Admitted before slow-call tracking was turned on.
                return false;
            }

            elapsedTicks = ElapsedTicks(token, Milliseconds(now));
        }

        return elapsedTicks >= settings.SlowCallTicks;
    }

    private long Token(uint generation, bool probe, bool stampStart, CircuitBreakerSettings settings)
    {
        var token = ((long)generation << 32) | AcquiredFlag | (probe ? ProbeFlag : 0);
        if (stampStart && settings.SlowCallTicks > 0)
        {
            token |= StartStamp(Milliseconds(_clock.NowTicks));
        }

        return token;
    }

    private CircuitPermit AcquireSlow(bool stampStart)
    {
        var settings = _settings;
        while (true)
        {
            var state = Volatile.Read(ref _state);
            var generation = GenerationOf(state);
            long now, deadline;
            CircuitTransitionReason reason;
            switch (StateOf(state))
            {
                case CircuitState.Closed:
                    return new CircuitPermit(Token(generation, probe: false, stampStart, settings), 0);

                case CircuitState.Isolated:
                    return new CircuitPermit(0, Rejection.Pack(RejectionReason.IsolatedCircuit, null));

                case CircuitState.Open:
                    // The break's end is published before the state, so this is this break's end.
                    now = _clock.NowTicks;
                    deadline = Volatile.Read(ref _openUntil);
                    reason = CircuitTransitionReason.BreakElapsed;
                    break;

                default:
                    now = _clock.NowTicks;
                    if (ProbesOf(state) < settings.PermittedProbes)
                    {
                        // The deadline moves before the slot is taken, so no caller can find this probe overdue
                        // before it has run for the probe timeout.
                        RaiseTime(ref _probeDeadline, generation, CeilingMilliseconds(now + settings.ProbeTimeoutTicks));
                        if (Interlocked.CompareExchange(ref _state, state + (1L << ProbeShift), state) == state)
                        {
                            return new CircuitPermit(Token(generation, probe: true, stampStart, settings), 0);
                        }

                        continue;
                    }

                    // Every slot is taken: the round waits until the newest probe has run for the probe timeout.
                    deadline = Volatile.Read(ref _probeDeadline);
                    reason = CircuitTransitionReason.ProbeTimedOut;
                    break;
            }

            // Open, or half-open with every slot taken: before the deadline the call is refused with the time left;
            // after it, the call becomes the first probe of a new round, and the old round's results no longer count.
            var left = MillisecondsLeft(deadline, generation, now);
            if (left > 0)
            {
                // At most MaxMillisecondsLeft: in range, as a tick count, of any packed retry-after.
                return new CircuitPermit(0, Rejection.PackInRange(RejectionReason.BrokenCircuit, left * TimeSpan.TicksPerMillisecond));
            }

            if (TryStartRound(state, now, reason, settings, out var failure))
            {
                failure?.Throw();
                return new CircuitPermit(Token(generation + 1, probe: true, stampStart, settings), 0);
            }
        }
    }

    /// <summary>
    /// Starts a half-open round with the caller as its first probe; <see langword="false"/> when another thread changed
    /// the state first. When a handler throws, the round has started but the caller is no probe: <paramref name="failure"/>.
    /// </summary>
    private bool TryStartRound(long state, long now, CircuitTransitionReason reason, CircuitBreakerSettings settings, out ExceptionDispatchInfo? failure)
    {
        failure = null;
        var generation = GenerationOf(state);
        var next = generation + 1;
        RaiseTime(ref _probeDeadline, next, CeilingMilliseconds(now + settings.ProbeTimeoutTicks));
        if (Interlocked.CompareExchange(ref _state, Pack(CircuitState.HalfOpen, 1, ReopeningsOf(state), next), state) != state)
        {
            return false;
        }

        var from = StateOf(state);
        failure = Raise(from, CircuitState.HalfOpen, reason, next, from, generation, now, null);
        if (failure is not null)
        {
            // The caller gets a handler's exception instead of its permit: the slot taken for it goes back to the round.
            ReleaseProbe(next);
        }

        return true;
    }

    private ExceptionDispatchInfo? RecordFailureOrRun(CircuitBreakerSettings settings, CircuitWindow window, uint generation, bool failure, bool slow, long now)
    {
        var run = settings.ConsecutiveFailures > 0 ? UpdateFailureRun(generation, failure, settings.ConsecutiveFailures) : 0;
        if (!failure && !slow && run != OpeningUnderWay)
        {
            return null;
        }

        var (calls, failures, slowCalls) = window.Sum(now, generation);
        var figures = new CircuitSnapshot(CircuitState.Closed, generation, calls, failures, slowCalls);
        if (settings.ConsecutiveFailures > 0 && run >= settings.ConsecutiveFailures)
        {
            return Open(settings, generation, CircuitState.Closed, CircuitTransitionReason.ConsecutiveFailures, figures, now);
        }

        if (calls >= settings.MinimumThroughput)
        {
            if (figures.FailureRatio >= settings.FailureRatio)
            {
                return Open(settings, generation, CircuitState.Closed, CircuitTransitionReason.FailureRatio, figures, now);
            }

            if (settings.SlowCallTicks > 0 && figures.SlowCallRatio >= settings.SlowCallRatio)
            {
                return Open(settings, generation, CircuitState.Closed, CircuitTransitionReason.SlowCallRatio, figures, now);
            }
        }

        return null;
    }

    /// <summary>
    /// Counts a failure into the run of <paramref name="generation"/>, or ends the run on a success; returns the run's
    /// length, or <see cref="OpeningUnderWay"/> for a success that met a run already complete.
    /// </summary>
    /// <remarks>
    /// The failure that completes a run opens the breaker after its swap here (it sums the window for the transition's
    /// figures first): a success in between must not break the run, or a call admitted after that success returned would
    /// find the breaker closed, and the breaker then open on a run the success had broken. The completing failure marks
    /// the run; a success that meets the mark leaves it and opens the breaker itself (whichever swap of the state comes
    /// first opens it), so once the success returns the breaker is open, as if the failure had come first.
    /// </remarks>
    private int UpdateFailureRun(uint generation, bool failure, int threshold)
    {
        while (true)
        {
            var current = Volatile.Read(ref _failureRun);
            var currentGeneration = (uint)(current >>> 32);
            var count = (uint)current & ~RunComplete;
            if (!failure)
            {
                // Written only when a run is under way, so successes on many threads share this line read-only.
                if (currentGeneration != generation || (uint)current == 0)
                {
                    return 0;
                }

                if (((uint)current & RunComplete) != 0)
                {
                    return OpeningUnderWay;
                }

                if (Interlocked.CompareExchange(ref _failureRun, Tagged(generation, 0), current) == current)
                {
                    return 0;
                }

                continue;
            }

            if (currentGeneration == generation)
            {
                count = count == int.MaxValue ? count : count + 1;
            }
            else if (IsBefore(currentGeneration, generation))
            {
                count = 1;
            }
            else
            {
                // A later generation's run: this result is late.
                return 0;
            }

            // A complete run stays marked until its breaker opens (even if the threshold was raised meanwhile); a new
            // generation's run starts unmarked.
            var complete = count >= threshold || (currentGeneration == generation && ((uint)current & RunComplete) != 0);
            if (Interlocked.CompareExchange(ref _failureRun, Tagged(generation, complete ? count | RunComplete : count), current) == current)
            {
                return (int)count;
            }
        }
    }

    private ExceptionDispatchInfo? RecordProbe(long token, CircuitCallResult result, long elapsedTicks, long now)
    {
        var generation = (uint)(token >>> 32);
        if (result == CircuitCallResult.Ignored)
        {
            ReleaseProbe(generation);
            return null;
        }

        var state = Volatile.Read(ref _state);
        if (GenerationOf(state) != generation)
        {
            // The round is over (decided, timed out or reset by hand): this probe no longer counts.
            return null;
        }

        // A slow probe has not shown that the dependency recovered.
        var settings = _settings;
        var failed = result == CircuitCallResult.Failure || (settings.SlowCallTicks > 0 && IsSlow(token, elapsedTicks, now, settings));
        uint counts;
        while (true)
        {
            var current = Volatile.Read(ref _probeResults);
            var currentGeneration = (uint)(current >>> 32);
            if (currentGeneration != generation && !IsBefore(currentGeneration, generation))
            {
                return null;
            }

            counts = (currentGeneration == generation ? (uint)current : 0) + (failed ? 1u << 16 : 1u);
            if (Interlocked.CompareExchange(ref _probeResults, Tagged(generation, counts), current) == current)
            {
                break;
            }
        }

        var successes = (int)(counts & 0xFFFF);
        var failures = (int)(counts >> 16);
        var figures = new CircuitSnapshot(CircuitState.HalfOpen, generation, successes + failures, failures, 0);
        if (failures > settings.PermittedProbes - settings.RequiredProbeSuccesses)
        {
            return Open(settings, generation, CircuitState.HalfOpen, CircuitTransitionReason.ProbeFailed, figures, now);
        }

        return successes >= settings.RequiredProbeSuccesses
            && TryMove(generation, CircuitState.HalfOpen, Pack(CircuitState.Closed, 0, 0, generation + 1))
            ? Raise(CircuitState.HalfOpen, CircuitState.Closed, CircuitTransitionReason.ProbesSucceeded, generation + 1, figures, null)
            : null;
    }

    /// <summary>Frees the slot of a probe that ended without a verdict, so another probe can test the dependency.</summary>
    private void ReleaseProbe(uint generation)
    {
        while (true)
        {
            var state = Volatile.Read(ref _state);
            if (GenerationOf(state) != generation || ProbesOf(state) == 0)
            {
                return;
            }

            if (Interlocked.CompareExchange(ref _state, state - (1L << ProbeShift), state) == state)
            {
                return;
            }
        }
    }

    private ExceptionDispatchInfo? Open(CircuitBreakerSettings settings, uint generation, CircuitState from, CircuitTransitionReason reason, CircuitSnapshot figures, long now)
    {
        var state = Volatile.Read(ref _state);
        if (GenerationOf(state) != generation || StateOf(state) != from)
        {
            return null;
        }

        // Re-openings change only with the generation, so they are the same on every retry below.
        var reopenings = from == CircuitState.HalfOpen ? Math.Min(ReopeningsOf(state) + 1, MaxReopenings) : 0;
        var next = generation + 1;
        var breakTicks = BreakTicks(settings, reopenings, next);

        // Published before the state, so whoever sees this Open reads this break's end.
        RaiseTime(ref _openUntil, next, CeilingMilliseconds(now + breakTicks));
        while (Interlocked.CompareExchange(ref _state, Pack(CircuitState.Open, 0, reopenings, next), state) != state)
        {
            // Half-open admissions change the word without changing the generation: try again while it is ours.
            state = Volatile.Read(ref _state);
            if (GenerationOf(state) != generation || StateOf(state) != from)
            {
                return null;
            }
        }

        return Raise(from, CircuitState.Open, reason, next, figures, TimeSpan.FromTicks(breakTicks));
    }

    private long BreakTicks(CircuitBreakerSettings settings, int reopenings, uint generation)
    {
        var ticks = settings.BreakTicks * Math.Pow(settings.BreakMultiplier, reopenings);
        if (settings.Jitter > 0)
        {
            // Drawn for the generation, not from a shared sequence: threads racing to open the same generation all
            // publish the same break (the break's end keeps the latest of theirs), so the break kept is the one the
            // Opened event reports, and a seed gives the same breaks however many threads raced.
            ticks *= 1 + (settings.Jitter * ((_jitter.UnitAt(generation) * 2) - 1));
        }

        return Math.Max(TimeSpan.TicksPerMillisecond, (long)Math.Min(ticks, settings.MaxBreakTicks));
    }

    private bool TryMove(uint generation, CircuitState from, long next)
    {
        while (true)
        {
            var state = Volatile.Read(ref _state);
            if (GenerationOf(state) != generation || StateOf(state) != from)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _state, next, state) == state)
            {
                return true;
            }
        }
    }

    private void Force(CircuitState target)
    {
        while (true)
        {
            var now = _clock.NowTicks;
            var state = Volatile.Read(ref _state);
            var from = StateOf(state);
            if (from == CircuitState.Isolated && target == CircuitState.Isolated)
            {
                return;
            }

            var generation = GenerationOf(state);
            if (Interlocked.CompareExchange(ref _state, Pack(target, 0, 0, generation + 1), state) == state)
            {
                Raise(from, target, CircuitTransitionReason.Manual, generation + 1, from, generation, now, null)?.Throw();
                return;
            }
        }
    }

    private CircuitSnapshot FiguresOf(CircuitState state, uint generation, long now)
    {
        switch (state)
        {
            case CircuitState.Closed:
                {
                    var (calls, failures, slow) = Volatile.Read(ref _window).Sum(now, generation);
                    return new CircuitSnapshot(state, generation, calls, failures, slow);
                }

            case CircuitState.HalfOpen:
                {
                    var results = Volatile.Read(ref _probeResults);
                    var counts = (uint)(results >>> 32) == generation ? (uint)results : 0;
                    return new CircuitSnapshot(state, generation, (counts & 0xFFFF) + (counts >> 16), counts >> 16, 0);
                }

            default:
                return new CircuitSnapshot(state, generation, 0, 0, 0);
        }
    }

    private EventHandler<CircuitTransition>? HandlerOf(CircuitState state) => state switch
    {
        CircuitState.Open => Opened,
        CircuitState.HalfOpen => HalfOpened,
        CircuitState.Closed => Closed,
        _ => Isolated,
    };

    /// <summary>Raises a transition whose figures are those of the state left, computed only when someone listens.</summary>
    private ExceptionDispatchInfo? Raise(CircuitState from, CircuitState to, CircuitTransitionReason reason, uint generation, CircuitState left, uint leftGeneration, long now, TimeSpan? breakDuration) =>
        HandlerOf(to) is not null || Transitioned is not null
            ? Raise(from, to, reason, generation, FiguresOf(left, leftGeneration, now), breakDuration)
            : null;

    /// <summary>Raises a transition; returns the first exception a handler threw, for the caller to throw (or, in a pipeline, to make the call's outcome).</summary>
    private ExceptionDispatchInfo? Raise(CircuitState from, CircuitState to, CircuitTransitionReason reason, uint generation, CircuitSnapshot figures, TimeSpan? breakDuration)
    {
        var specific = HandlerOf(to);
        var all = Transitioned;
        if (specific is null && all is null)
        {
            return null;
        }

        // Every handler runs, whichever throws: one failing handler must not hide the transition from the others
        // (telemetry counts transitions through Transitioned).
        var transition = new CircuitTransition(this, from, to, reason, generation, figures, breakDuration);
        ExceptionDispatchInfo? failure = null;
        Invoke(specific, transition, ref failure);
        Invoke(all, transition, ref failure);
        return failure;
    }

    private void Invoke(EventHandler<CircuitTransition>? handlers, CircuitTransition transition, ref ExceptionDispatchInfo? failure)
    {
        foreach (var handler in Delegate.EnumerateInvocationList(handlers))
        {
            try
            {
                handler(this, transition);
            }
            catch (Exception exception)
            {
                failure ??= ExceptionDispatchInfo.Capture(exception);
            }
        }
    }
}
