namespace Resilience.Tests.Linearizability;

/// <summary>
/// The part of the circuit breaker docs/circuit-breaker.md makes atomic, one operation at a time, with time fixed at
/// <see cref="NowTicks"/>: admissions, probe slots and every transition are swaps of one state word; a result counts
/// only in the generation its permit was admitted in; the breaker opens on a run of consecutive failures (the window's
/// ratios, summed across stripes while others record, are kept out of the check by a minimum throughput never reached).
/// </summary>
internal sealed class CircuitBreakerModel(CircuitBreakerOptions options) : ISequentialModel<BreakerState, BreakerCall, BreakerAnswer>
{
    private readonly int _required = Math.Max(1, (int)Math.Ceiling((options.ProbeSuccessRatio * options.PermittedProbes) - 1e-9));

    /// <summary>Gets or sets the clock's reading for the round being checked.</summary>
    public long NowTicks { get; set; }

    private long NowMilliseconds => NowTicks / TimeSpan.TicksPerMillisecond;

    public static BreakerState Initial { get; } = new(CircuitState.Closed, 0, 0, 0, 0, 0, 0, 0);

    public bool TryApply(BreakerState state, BreakerCall call, BreakerAnswer observed, out BreakerState next)
    {
        next = state;
        BreakerAnswer expected;
        switch (call.Kind)
        {
            case BreakerCallKind.Acquire:
                expected = Acquire(state, out next);
                break;

            case BreakerCallKind.Record:
                next = Record(state, call);
                expected = BreakerAnswer.None;
                break;

            case BreakerCallKind.Isolate:
                next = state.State == CircuitState.Isolated ? state : Moved(state, CircuitState.Isolated);
                expected = BreakerAnswer.None;
                break;

            case BreakerCallKind.Close:
                next = Moved(state, CircuitState.Closed);
                expected = BreakerAnswer.None;
                break;

            case BreakerCallKind.State:
                expected = BreakerAnswer.None with { State = state.State };
                break;

            default:
                expected = BreakerAnswer.None with { State = state.State, Generation = state.Generation };
                break;
        }

        return observed == expected;
    }

    private BreakerAnswer Acquire(BreakerState state, out BreakerState next)
    {
        next = state;
        long deadline;
        switch (state.State)
        {
            case CircuitState.Closed:
                return BreakerAnswer.None with { Admitted = true, Generation = state.Generation };

            case CircuitState.Isolated:
                return BreakerAnswer.None with { Reason = RejectionReason.IsolatedCircuit };

            case CircuitState.HalfOpen when state.Probes < options.PermittedProbes:
                next = state with { Probes = state.Probes + 1, ProbeDeadline = Math.Max(state.ProbeDeadline, ProbeDeadline()) };
                return BreakerAnswer.None with { Admitted = true, Probe = true, Generation = state.Generation };

            case CircuitState.Open:
                deadline = state.OpenUntil;
                break;

            default:
                deadline = state.ProbeDeadline;
                break;
        }

        // Before the break's end (or, every slot taken, the probe deadline) refused with the time left; after it, the
        // first probe of a new round.
        var left = deadline - NowMilliseconds;
        if (left > 0)
        {
            return BreakerAnswer.None with { Reason = RejectionReason.BrokenCircuit, RetryAfterTicks = left * TimeSpan.TicksPerMillisecond };
        }

        next = Moved(state, CircuitState.HalfOpen) with { Probes = 1, ProbeDeadline = ProbeDeadline() };
        return BreakerAnswer.None with { Admitted = true, Probe = true, Generation = state.Generation + 1 };
    }

    private BreakerState Record(BreakerState state, BreakerCall call)
    {
        if (state.Generation != call.Generation)
        {
            // Admitted in another generation: changes nothing (a probe's slot included).
            return state;
        }

        if (call.Probe)
        {
            return call.Result switch
            {
                CircuitCallResult.Ignored => state with { Probes = Math.Max(0, state.Probes - 1) },
                CircuitCallResult.Failure when state.ProbeFailures + 1 > options.PermittedProbes - _required => Opened(state),
                CircuitCallResult.Failure => state with { ProbeFailures = state.ProbeFailures + 1 },
                _ when state.ProbeSuccesses + 1 >= _required => Moved(state, CircuitState.Closed),
                _ => state with { ProbeSuccesses = state.ProbeSuccesses + 1 },
            };
        }

        return call.Result switch
        {
            CircuitCallResult.Ignored => state,
            CircuitCallResult.Success => state with { Run = 0 },
            _ when state.Run + 1 >= options.ConsecutiveFailures => Opened(state),
            _ => state with { Run = state.Run + 1 },
        };
    }

    private BreakerState Opened(BreakerState state) =>
        Moved(state, CircuitState.Open) with { OpenUntil = Ceiling(NowTicks + options.BreakDuration.Ticks) };

    /// <summary>A transition: a new generation, with no probes, run or verdicts of its own yet.</summary>
    private static BreakerState Moved(BreakerState state, CircuitState to) =>
        state with { State = to, Generation = state.Generation + 1, Probes = 0, Run = 0, ProbeSuccesses = 0, ProbeFailures = 0 };

    private long ProbeDeadline() => Ceiling(NowTicks + (options.ProbeTimeout ?? options.BreakDuration).Ticks);

    private static long Ceiling(long ticks) => (ticks + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond;
}
