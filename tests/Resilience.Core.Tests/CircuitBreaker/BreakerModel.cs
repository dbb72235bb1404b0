using Resilience.Time;

namespace Resilience.Tests.CircuitBreaker;

/// <summary>
/// A deliberately simple, single-threaded reference model of the breaker's rules, written from the specification:
/// a list of recorded calls instead of striped counters, plain fields instead of packed words, times in plain
/// milliseconds. It mirrors the documented roundings: a break's end and a probe deadline round up to the millisecond,
/// durations measured by the breaker are whole milliseconds. It also lists the transitions it expects to be raised, with
/// their reasons, generations, breaks and the figures of the state left.
/// </summary>
internal sealed class BreakerModel(CircuitBreakerOptions options)
{
    private const long TicksPerMs = TimeSpan.TicksPerMillisecond;
    private const long StartMask = (1L << 30) - 1;

    private readonly List<(long Epoch, uint Generation, bool Failure, bool Slow)> _records = [];
    private readonly SeededRandom _jitter = new(options.JitterSeed);
    private long _openUntilMs;
    private long _probeDeadlineMs;
    private int _probesAdmitted;
    private int _probeSuccesses;
    private int _probeFailures;
    private int _failureRun;
    private int _reopenings;

    public CircuitBreakerOptions Options { get; private set; } = options;

    public CircuitState State { get; private set; }

    public List<(CircuitState From, CircuitState To, CircuitTransitionReason Reason, uint Generation, long Calls, long Failures, long Slow, TimeSpan? Break)> Transitions { get; } = [];

    public uint Generation { get; private set; }

    /// <summary>Gets the probes admitted and not given back in the current half-open round.</summary>
    public int ProbesAdmitted => _probesAdmitted;

    private long BucketTicks => Options.SamplingDuration.Ticks / Options.BucketCount;

    private bool TracksSlowCalls => Options.SlowCallDuration is not null;

    private int RequiredSuccesses => Math.Max(1, (int)Math.Ceiling((Options.ProbeSuccessRatio * Options.PermittedProbes) - 1e-9));

    private long ProbeTimeoutTicks => (Options.ProbeTimeout ?? Options.BreakDuration).Ticks;

    /// <summary>Returns whether the call is admitted, its generation, whether it is a probe, whether it was timed, and the retry-after of a rejection.</summary>
    public (bool Admitted, uint Generation, bool Probe, bool Timed, TimeSpan? RetryAfter) Acquire(long now)
    {
        var nowMs = now / TicksPerMs;
        switch (State)
        {
            case CircuitState.Closed:
                return (true, Generation, false, TracksSlowCalls, null);
            case CircuitState.Isolated:
                return (false, Generation, false, false, null);
            case CircuitState.Open:
                if (nowMs < _openUntilMs)
                {
                    return (false, Generation, false, false, TimeSpan.FromMilliseconds(_openUntilMs - nowMs));
                }

                StartRound(now, CircuitTransitionReason.BreakElapsed);
                return (true, Generation, true, TracksSlowCalls, null);
            default:
                if (_probesAdmitted < Options.PermittedProbes)
                {
                    _probesAdmitted++;
                    _probeDeadlineMs = Math.Max(_probeDeadlineMs, CeilingMs(now + ProbeTimeoutTicks));
                    return (true, Generation, true, TracksSlowCalls, null);
                }

                if (nowMs < _probeDeadlineMs)
                {
                    return (false, Generation, false, false, TimeSpan.FromMilliseconds(_probeDeadlineMs - nowMs));
                }

                StartRound(now, CircuitTransitionReason.ProbeTimedOut);
                return (true, Generation, true, TracksSlowCalls, null);
        }
    }

    /// <summary>Counts a call's end; <paramref name="duration"/> is the caller's measure, when it gave one.</summary>
    public void Record(uint generation, bool probe, bool timed, CircuitCallResult result, long start, long now, TimeSpan? duration = null)
    {
        if (probe && result == CircuitCallResult.Ignored)
        {
            if (generation == Generation && _probesAdmitted > 0)
            {
                _probesAdmitted--;
            }

            return;
        }

        if (generation != Generation || result == CircuitCallResult.Ignored)
        {
            return;
        }

        // The caller's measure when given; otherwise the breaker's, if it stamped the start (tracking was on then).
        var elapsed = duration ?? (timed ? TimeSpan.FromTicks(ElapsedTicks(start, now)) : null);
        var slow = TracksSlowCalls && elapsed >= Options.SlowCallDuration;
        var failure = result == CircuitCallResult.Failure;
        if (probe)
        {
            if (failure || slow)
            {
                _probeFailures++;
            }
            else
            {
                _probeSuccesses++;
            }

            if (_probeFailures > Options.PermittedProbes - RequiredSuccesses)
            {
                Open(now, _reopenings + 1, CircuitTransitionReason.ProbeFailed, ProbeFigures());
            }
            else if (_probeSuccesses >= RequiredSuccesses)
            {
                Enter(CircuitState.Closed, CircuitTransitionReason.ProbesSucceeded, ProbeFigures());
            }

            return;
        }

        _records.Add((EpochOf(now), Generation, failure, slow));
        if (Options.ConsecutiveFailures > 0)
        {
            _failureRun = failure ? _failureRun + 1 : 0;
        }

        if (!failure && !slow)
        {
            return;
        }

        var figures = Window(now);
        var (calls, failures, slowCalls) = figures;
        if (Options.ConsecutiveFailures > 0 && _failureRun >= Options.ConsecutiveFailures)
        {
            Open(now, 0, CircuitTransitionReason.ConsecutiveFailures, figures);
        }
        else if (calls >= Options.MinimumThroughput && (double)failures / calls >= Options.FailureRatio)
        {
            Open(now, 0, CircuitTransitionReason.FailureRatio, figures);
        }
        else if (calls >= Options.MinimumThroughput && TracksSlowCalls && (double)slowCalls / calls >= Options.SlowCallRatio)
        {
            Open(now, 0, CircuitTransitionReason.SlowCallRatio, figures);
        }
    }

    /// <summary>Applies new options at <paramref name="now"/>, as <c>UpdateOptions</c> does.</summary>
    public void Update(CircuitBreakerOptions value, long now)
    {
        // Successes are not tracked while the trigger is off, so turning it on starts a new run.
        if (Options.ConsecutiveFailures == 0 && value.ConsecutiveFailures > 0)
        {
            _failureRun = 0;
        }

        var (oldTicks, oldCount) = (BucketTicks, Options.BucketCount);
        Options = value;
        if (BucketTicks == oldTicks && Options.BucketCount == oldCount)
        {
            return;
        }

        // A reshaped window: while closed, each count of the old window moves to the new bucket holding its old
        // bucket's last instant (now, for the current bucket); counts outside either window are dropped.
        var (oldEpoch, newEpoch) = (now / oldTicks, EpochOf(now));
        var kept = State != CircuitState.Closed ? [] : _records
            .Where(r => r.Generation == Generation && r.Epoch > oldEpoch - oldCount)
            .Select(r => (Epoch: EpochOf(Math.Min(((r.Epoch + 1) * oldTicks) - 1, now)), r.Generation, r.Failure, r.Slow))
            .Where(r => r.Epoch > newEpoch - Options.BucketCount)
            .ToList();
        _records.Clear();
        _records.AddRange(kept);
    }

    public (long Calls, long Failures, long Slow) Window(long now)
    {
        var epoch = EpochOf(now);
        var inWindow = _records.Where(r => r.Generation == Generation && r.Epoch > epoch - Options.BucketCount && r.Epoch <= epoch).ToList();
        return (inWindow.Count, inWindow.Count(r => r.Failure), inWindow.Count(r => r.Slow));
    }

    public (long Calls, long Failures) ProbeResults() => (_probeSuccesses + _probeFailures, _probeFailures);

    public void Isolate(long now)
    {
        if (State != CircuitState.Isolated)
        {
            Enter(CircuitState.Isolated, CircuitTransitionReason.Manual, FiguresLeft(now));
        }
    }

    public void Close(long now) => Enter(CircuitState.Closed, CircuitTransitionReason.Manual, FiguresLeft(now));

    private static long CeilingMs(long ticks) => (ticks + TicksPerMs - 1) / TicksPerMs;

    private static long ElapsedTicks(long start, long now)
    {
        var startMs = (start / TicksPerMs) & StartMask;
        startMs = startMs == 0 ? StartMask : startMs;
        // The whole milliseconds between the truncated ends, taken to the end of the last one (the true length is
        // less than a millisecond over them), so a call never measures shorter than it was.
        return ((((now / TicksPerMs) - startMs) & StartMask) * TicksPerMs) + TicksPerMs - 1;
    }

    private long EpochOf(long now) => now / BucketTicks;

    private (long Calls, long Failures, long Slow) ProbeFigures() => (_probeSuccesses + _probeFailures, _probeFailures, 0);

    private (long Calls, long Failures, long Slow) FiguresLeft(long now) => State switch
    {
        CircuitState.Closed => Window(now),
        CircuitState.HalfOpen => ProbeFigures(),
        _ => (0, 0, 0),
    };

    private void Transition(CircuitState to, CircuitTransitionReason reason, (long Calls, long Failures, long Slow) figures, TimeSpan? breakDuration = null) =>
        Transitions.Add((State, to, reason, Generation + 1, figures.Calls, figures.Failures, figures.Slow, breakDuration));

    private void Enter(CircuitState state, CircuitTransitionReason reason, (long Calls, long Failures, long Slow) figures)
    {
        Transition(state, reason, figures);
        State = state;
        Generation++;
        _reopenings = 0;
        _failureRun = 0;
    }

    private void StartRound(long now, CircuitTransitionReason reason)
    {
        Transition(CircuitState.HalfOpen, reason, FiguresLeft(now));
        State = CircuitState.HalfOpen;
        Generation++;
        _probesAdmitted = 1;
        _probeSuccesses = 0;
        _probeFailures = 0;
        _probeDeadlineMs = CeilingMs(now + ProbeTimeoutTicks);
    }

    private void Open(long now, int reopenings, CircuitTransitionReason reason, (long Calls, long Failures, long Slow) figures)
    {
        // The base break, grown by the multiplier per re-opening, spread by the jitter (the seed's value for the
        // generation this opening starts: the seed is the one the breaker was built with), then capped.
        var grown = Options.BreakDuration.Ticks * Math.Pow(Options.BreakDurationMultiplier, reopenings);
        var jittered = grown * (1 + (Options.BreakDurationJitter * ((_jitter.UnitAt(Generation + 1) * 2) - 1)));
        var breakTicks = Math.Max(TicksPerMs, (long)Math.Min(jittered, Options.MaxBreakDuration.Ticks));
        Transition(CircuitState.Open, reason, figures, TimeSpan.FromTicks(breakTicks));
        State = CircuitState.Open;
        Generation++;
        _openUntilMs = CeilingMs(now + breakTicks);
        _reopenings = reopenings;
        _failureRun = 0;
    }
}
