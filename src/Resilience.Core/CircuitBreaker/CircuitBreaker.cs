using System.Runtime.CompilerServices;
using Resilience.Time;

namespace Resilience;

/// <summary>
/// A lock-free circuit breaker over a sliding time window: it opens on a failure ratio, a slow-call ratio or a run of
/// consecutive failures, lets a bounded number of probes through once the break has passed, and can be held open or
/// closed by hand. Use it directly (<see cref="TryAcquire"/>, then <see cref="Record"/>) or in pipelines
/// (<c>AddCircuitBreaker</c>); one instance can serve every pipeline that calls the same dependency.
/// </summary>
/// <remarks>
/// All state changes are compare-and-swap on one 64-bit word holding the state, the number of probes admitted and a
/// generation that changes on every transition. A permit remembers its generation: a result that arrives after the
/// breaker moved on is not counted against the new window and does not touch another round's probes. No call path
/// takes a lock or allocates; a transition allocates only the event it raises, and only when someone listens.
/// </remarks>
public sealed class CircuitBreaker
{
    internal const long ProbeBit = 1L << 31;
    private const long StartMask = ProbeBit - 1;
    private const int ProbeShift = 2;
    private const long ProbeCountMask = 0xFFFF;

    private readonly MonotonicClock _clock;
    private readonly SeededRandom _jitter;
    private CircuitBreakerSettings _settings;
    private CircuitWindow _window;

    // Bits 0-1: state; bits 2-17: probes admitted in this half-open round; bits 32-63: generation.
    private long _state;
    private long _openUntilTicks;
    private long _probeDeadlineTicks;

    // Probe results of one round: generation (high 32 bits), failures (bits 16-31), successes (bits 0-15).
    private long _probeResults;
    private int _consecutiveFailures;
    private int _consecutiveOpens;

    /// <summary>Initializes a new breaker, closed.</summary>
    /// <param name="options">The options; validated and copied.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range.</exception>
    public CircuitBreaker(CircuitBreakerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _settings = new CircuitBreakerSettings(options);
        _window = new CircuitWindow(_settings.BucketCount, _settings.SamplingDuration);
        _clock = MonotonicClock.From(options.TimeProvider);
        _jitter = new SeededRandom(options.JitterSeed);
        Name = string.IsNullOrEmpty(options.Name) ? "CircuitBreaker" : options.Name;
    }

    /// <summary>Raised on every change of state, with the reason and the window's figures. Handlers run on the thread that caused the change; keep them short.</summary>
    public event EventHandler<CircuitTransition>? Transitioned;

    /// <summary>Gets the breaker's name.</summary>
    public string Name { get; }

    /// <summary>Gets the current state. An open breaker whose break has passed reports <see cref="CircuitState.Open"/> until a call moves it to half-open.</summary>
    public CircuitState State => StateOf(Volatile.Read(ref _state));

    /// <summary>Gets a copy of the options in force.</summary>
    public CircuitBreakerOptions Options => Volatile.Read(ref _settings).Options.Clone();

    /// <summary>Asks permission for one call.</summary>
    /// <returns>A permit to report back with <see cref="Record"/>, or a rejection.</returns>
    public CircuitPermit TryAcquire()
    {
        var settings = _settings;
        while (true)
        {
            var state = Volatile.Read(ref _state);
            var generation = GenerationOf(state);
            switch (StateOf(state))
            {
                case CircuitState.Closed:
                    return new CircuitPermit(Token(generation, probe: false, settings));

                case CircuitState.Isolated:
                    return new CircuitPermit(RejectionReason.IsolatedCircuit, null);

                case CircuitState.Open:
                    {
                        // When the break has passed, this call becomes the first probe of a new round.
                        if (TryStartRound(state, Volatile.Read(ref _openUntilTicks), CircuitTransitionReason.BreakElapsed, settings, out var permit))
                        {
                            return permit;
                        }

                        break;
                    }

                default:
                    {
                        var probes = (int)((state >> ProbeShift) & ProbeCountMask);
                        if (probes < settings.PermittedProbes)
                        {
                            if (Interlocked.CompareExchange(ref _state, state + (1L << ProbeShift), state) == state)
                            {
                                return new CircuitPermit(Token(generation, probe: true, settings));
                            }

                            break;
                        }

                        // A probe that held its slot past the probe timeout: a new round starts; the old round's results no longer count.
                        if (TryStartRound(state, Volatile.Read(ref _probeDeadlineTicks), CircuitTransitionReason.ProbeTimedOut, settings, out var permit))
                        {
                            return permit;
                        }

                        break;
                    }
            }
        }
    }

    /// <summary>
    /// Starts a half-open round with this call as its first probe, once <paramref name="notBefore"/> has passed.
    /// Returns a rejection (with the time left) before then, and <see langword="false"/> when another thread changed
    /// the state first (the caller reads it again).
    /// </summary>
    private bool TryStartRound(long state, long notBefore, CircuitTransitionReason reason, CircuitBreakerSettings settings, out CircuitPermit permit)
    {
        var now = _clock.NowTicks;
        if (now < notBefore)
        {
            permit = new CircuitPermit(RejectionReason.BrokenCircuit, TimeSpan.FromTicks(notBefore - now));
            return true;
        }

        var next = GenerationOf(state) + 1;
        Volatile.Write(ref _probeDeadlineTicks, now + settings.ProbeTimeoutTicks);
        if (Interlocked.CompareExchange(ref _state, Pack(CircuitState.HalfOpen, 1, next), state) == state)
        {
            Raise(StateOf(state), CircuitState.HalfOpen, reason, next, null);
            permit = new CircuitPermit(Token(next, probe: true, settings));
            return true;
        }

        permit = default;
        return false;
    }

    /// <summary>Reports how a permitted call ended.</summary>
    /// <param name="permit">The permit <see cref="TryAcquire"/> returned.</param>
    /// <param name="result">How the call ended.</param>
    /// <remarks>
    /// When slow-call tracking is on, the call's duration is measured from <see cref="TryAcquire"/> on the breaker's
    /// clock. A permit from an earlier generation changes nothing.
    /// </remarks>
    public void Record(in CircuitPermit permit, CircuitCallResult result)
    {
        if (!permit.IsAcquired)
        {
            return;
        }

        var token = permit.Token;
        var generation = (uint)(token >>> 32);
        var state = Volatile.Read(ref _state);
        if (GenerationOf(state) != generation)
        {
            return;
        }

        if ((token & ProbeBit) != 0)
        {
            RecordProbe(generation, result);
            return;
        }

        if (result == CircuitCallResult.Ignored || StateOf(state) != CircuitState.Closed)
        {
            return;
        }

        var settings = _settings;
        var now = _clock.NowTicks;
        var slow = settings.SlowCallMilliseconds > 0 && (token & StartMask) != 0
            && ((Milliseconds(now) - (token & StartMask)) & StartMask) >= settings.SlowCallMilliseconds;
        var failure = result == CircuitCallResult.Failure;
        var window = _window;
        var epoch = window.EpochOf(now);
        window.Record(epoch, generation, failure, slow);

        var consecutive = 0;
        if (failure)
        {
            consecutive = Interlocked.Increment(ref _consecutiveFailures);
        }
        else if (Volatile.Read(ref _consecutiveFailures) != 0)
        {
            // Written only when needed, so successes on many threads do not contend for this line.
            Volatile.Write(ref _consecutiveFailures, 0);
        }

        if (failure || slow)
        {
            Evaluate(settings, window, generation, epoch, consecutive, now);
        }
    }

    /// <summary>Holds the breaker open until <see cref="Close"/>: every call is rejected with <see cref="IsolatedCircuitException"/>.</summary>
    public void Isolate() => Force(CircuitState.Isolated);

    /// <summary>Closes the breaker with a fresh window and the base break duration, whatever its state.</summary>
    public void Close() => Force(CircuitState.Closed);

    /// <summary>Gets the state and the figures of the current generation's window.</summary>
    /// <returns>The snapshot.</returns>
    public CircuitSnapshot GetSnapshot()
    {
        var state = Volatile.Read(ref _state);
        return Snapshot(state, _window, _clock.NowTicks);
    }

    /// <summary>
    /// Applies new options to the live breaker: thresholds and durations apply from the next decision; state,
    /// generation and window are kept. A changed <see cref="CircuitBreakerOptions.SamplingDuration"/> or
    /// <see cref="CircuitBreakerOptions.BucketCount"/> starts a fresh window (the old counts cannot be re-bucketed);
    /// the state is still kept. <see cref="CircuitBreakerOptions.TimeProvider"/>, <see cref="CircuitBreakerOptions.Name"/>
    /// and <see cref="CircuitBreakerOptions.JitterSeed"/> are fixed at construction.
    /// </summary>
    /// <param name="options">The new options; validated as a whole before anything changes.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range; nothing was changed.</exception>
    public void UpdateOptions(CircuitBreakerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var settings = new CircuitBreakerSettings(options);
        var current = Volatile.Read(ref _settings);
        if (settings.BucketCount != current.BucketCount || settings.SamplingDuration != current.SamplingDuration)
        {
            Volatile.Write(ref _window, new CircuitWindow(settings.BucketCount, settings.SamplingDuration));
        }

        Volatile.Write(ref _settings, settings);
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name} ({State})";

    internal static CircuitState StateOf(long state) => (CircuitState)(state & 3);

    private static uint GenerationOf(long state) => (uint)(state >>> 32);

    private static long Pack(CircuitState state, int probes, uint generation) =>
        ((long)generation << 32) | ((long)probes << ProbeShift) | (long)state;

    private static long Milliseconds(long ticks) => (ticks / TimeSpan.TicksPerMillisecond) & StartMask;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long Token(uint generation, bool probe, CircuitBreakerSettings settings)
    {
        var token = ((long)generation << 32) | (probe ? ProbeBit : 0);
        if (settings.SlowCallMilliseconds > 0)
        {
            // Zero means "untimed", so a start that happens to be zero is moved by one millisecond.
            token |= Math.Max(1, Milliseconds(_clock.NowTicks));
        }

        return token;
    }

    private void RecordProbe(uint generation, CircuitCallResult result)
    {
        var settings = _settings;
        if (result == CircuitCallResult.Ignored)
        {
            // Free the slot so another probe can test the dependency.
            while (true)
            {
                var state = Volatile.Read(ref _state);
                if (GenerationOf(state) != generation || StateOf(state) != CircuitState.HalfOpen || ((state >> ProbeShift) & ProbeCountMask) == 0)
                {
                    return;
                }

                if (Interlocked.CompareExchange(ref _state, state - (1L << ProbeShift), state) == state)
                {
                    return;
                }
            }
        }

        int successes, failures;
        while (true)
        {
            var results = Volatile.Read(ref _probeResults);
            var current = (uint)(results >>> 32) == generation ? results : (long)generation << 32;
            successes = (int)(current & 0xFFFF) + (result == CircuitCallResult.Success ? 1 : 0);
            failures = (int)((current >> 16) & 0xFFFF) + (result == CircuitCallResult.Failure ? 1 : 0);
            var updated = ((long)generation << 32) | ((long)failures << 16) | (long)successes;
            if (Interlocked.CompareExchange(ref _probeResults, updated, results) == results)
            {
                break;
            }
        }

        if (failures > settings.PermittedProbes - settings.RequiredProbeSuccesses)
        {
            Open(settings, generation, CircuitState.HalfOpen, CircuitTransitionReason.ProbeFailed, default, _clock.NowTicks);
        }
        else if (successes >= settings.RequiredProbeSuccesses)
        {
            if (TryMove(generation, CircuitState.HalfOpen, Pack(CircuitState.Closed, 0, generation + 1)))
            {
                Volatile.Write(ref _consecutiveOpens, 0);
                Volatile.Write(ref _consecutiveFailures, 0);
                Raise(CircuitState.HalfOpen, CircuitState.Closed, CircuitTransitionReason.ProbesSucceeded, generation + 1, null);
            }
        }
    }

    private void Evaluate(CircuitBreakerSettings settings, CircuitWindow window, uint generation, long epoch, int consecutive, long now)
    {
        if (settings.ConsecutiveFailures > 0 && consecutive >= settings.ConsecutiveFailures)
        {
            var (calls, failures, slow) = window.Sum(epoch, generation);
            Open(settings, generation, CircuitState.Closed, CircuitTransitionReason.ConsecutiveFailures, new CircuitSnapshot(CircuitState.Closed, generation, calls, failures, slow), now);
            return;
        }

        var totals = window.Sum(epoch, generation);
        if (totals.Calls < settings.MinimumThroughput)
        {
            return;
        }

        var figures = new CircuitSnapshot(CircuitState.Closed, generation, totals.Calls, totals.Failures, totals.Slow);
        if (figures.FailureRatio >= settings.FailureRatio)
        {
            Open(settings, generation, CircuitState.Closed, CircuitTransitionReason.FailureRatio, figures, now);
        }
        else if (settings.SlowCallMilliseconds > 0 && figures.SlowCallRatio >= settings.SlowCallRatio)
        {
            Open(settings, generation, CircuitState.Closed, CircuitTransitionReason.SlowCallRatio, figures, now);
        }
    }

    private void Open(CircuitBreakerSettings settings, uint generation, CircuitState from, CircuitTransitionReason reason, CircuitSnapshot figures, long now)
    {
        var reopenings = from == CircuitState.HalfOpen ? Volatile.Read(ref _consecutiveOpens) + 1 : 0;
        var breakTicks = BreakTicks(settings, reopenings);

        // Written before the state so that a caller who sees Open reads this break's end.
        Volatile.Write(ref _openUntilTicks, now + breakTicks);
        if (TryMove(generation, from, Pack(CircuitState.Open, 0, generation + 1)))
        {
            Volatile.Write(ref _openUntilTicks, now + breakTicks);
            Volatile.Write(ref _consecutiveOpens, reopenings);
            Volatile.Write(ref _consecutiveFailures, 0);
            Raise(from, CircuitState.Open, reason, generation + 1, TimeSpan.FromTicks(breakTicks), figures);
        }
    }

    private long BreakTicks(CircuitBreakerSettings settings, int reopenings)
    {
        var ticks = Math.Min(settings.BreakTicks * Math.Pow(settings.BreakMultiplier, reopenings), settings.MaxBreakTicks);
        if (settings.Jitter > 0)
        {
            ticks *= 1 + (settings.Jitter * ((_jitter.NextUnit() * 2) - 1));
        }

        return Math.Max(1, (long)ticks);
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
            var state = Volatile.Read(ref _state);
            var generation = GenerationOf(state);
            if (Interlocked.CompareExchange(ref _state, Pack(target, 0, generation + 1), state) == state)
            {
                if (target == CircuitState.Closed)
                {
                    Volatile.Write(ref _consecutiveOpens, 0);
                    Volatile.Write(ref _consecutiveFailures, 0);
                }

                Raise(StateOf(state), target, CircuitTransitionReason.Manual, generation + 1, null);
                return;
            }
        }
    }

    private void Raise(CircuitState from, CircuitState to, CircuitTransitionReason reason, uint generation, TimeSpan? breakDuration, CircuitSnapshot? figures = null)
    {
        var handler = Transitioned;
        if (handler is null)
        {
            return;
        }

        var window = figures ?? new CircuitSnapshot(to, generation, 0, 0, 0);
        handler(this, new CircuitTransition(this, from, to, reason, window with { State = to, Generation = generation }, breakDuration));
    }

    private CircuitSnapshot Snapshot(long state, CircuitWindow window, long now)
    {
        var generation = GenerationOf(state);
        var (calls, failures, slow) = window.Sum(window.EpochOf(now), generation);
        return new CircuitSnapshot(StateOf(state), generation, calls, failures, slow);
    }
}
