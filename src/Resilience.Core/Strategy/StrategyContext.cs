using System.Runtime.CompilerServices;
using Resilience.Time;

namespace Resilience;

/// <summary>
/// One call as one strategy sees it during a hook. Valid only for the duration of the hook.
/// </summary>
public ref struct StrategyContext
{
    private readonly ref CallFrame _frame;
    private readonly ref StrategySlot _slot;

    internal StrategyContext(ref CallFrame frame, ref StrategySlot slot)
    {
        _frame = ref frame;
        _slot = ref slot;
    }

    /// <summary>Gets the caller's own token. When it is cancelled, the call's outcome is neither success nor failure.</summary>
    public readonly CancellationToken CallerCancellationToken => _frame.CallerToken;

    /// <summary>
    /// Gets or sets the token passed inward. Setting it in <see cref="ResilienceStrategy.Enter"/> replaces the token
    /// the inner strategies and the callback receive; the engine restores the outer token after this strategy exits,
    /// whether it was set while entering or exiting.
    /// </summary>
    public readonly CancellationToken CancellationToken
    {
        get => _frame.Token;
        set
        {
            // The first change keeps the token in force outside this strategy, to restore when it exits, whether it
            // was made while entering or exiting; strategies that never replace theirs cost the engine nothing for it.
            if (!_slot.ReplacedToken)
            {
                _slot.OuterToken = _frame.Token;
                _slot.ReplacedToken = true;
            }

            _frame.Token = value;
        }
    }

    /// <summary>
    /// Gets the token this strategy was entered with: the one it replaced, if it replaced <see cref="CancellationToken"/>
    /// (the engine keeps it to restore it after the exit).
    /// </summary>
    internal readonly CancellationToken IncomingCancellationToken => _slot.ReplacedToken ? _slot.OuterToken : _frame.Token;

    /// <summary>Gets this strategy's per-call scratch value; zero when the strategy is entered.</summary>
    public readonly ref long State => ref _slot.State;

    /// <summary>Gets or sets this strategy's per-call scratch reference; <see langword="null"/> when the strategy is entered.</summary>
    public readonly object? StateObject
    {
        get => _slot.StateObject;
        set => _slot.StateObject = value;
    }

    /// <summary>Gets the name of the pipeline running the call.</summary>
    public readonly string? PipelineName => _frame.Pipeline.Name;

    /// <summary>Gets the pipeline's time provider.</summary>
    public readonly TimeProvider TimeProvider => _frame.Pipeline.TimeProvider;

    /// <summary>
    /// Gets a timestamp of <see cref="TimeProvider"/>. The engine reads the clock lazily, at most once while
    /// entering and once while exiting, and every strategy of the call shares that reading.
    /// </summary>
    /// <returns>A value of <see cref="System.TimeProvider.GetTimestamp"/>.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly long GetTimestamp()
    {
        var timestamp = _frame.Clocks.Timestamp;
        if (timestamp == 0)
        {
            timestamp = _frame.Pipeline.TimeProvider.GetTimestamp();
            _frame.Clocks.Timestamp = timestamp;
        }

        return timestamp;
    }

    /// <summary>
    /// Tells the pipeline's telemetry, if any, that a retry budget refused the retry <paramref name="strategy"/> would
    /// otherwise have made: only the retry itself knows the budget, not the outcome, ended its retries.
    /// </summary>
    internal readonly void ReportRetryRefusedByBudget(ResilienceStrategy strategy) => _frame.Pipeline.Telemetry?.OnRetryRefusedByBudget(strategy);

    /// <summary>
    /// Reads <paramref name="clock"/>: the coarse system clock once per pass, shared by every strategy of the call that
    /// uses it (a reading costs about as much as an atomic operation); any other provider afresh.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal readonly long NowTicks(in MonotonicClock clock)
    {
        if (!clock.IsCoarse)
        {
            return clock.NowTicks;
        }

        var ticks = _frame.Clocks.CoarseTicks;
        if (ticks == 0)
        {
            ticks = MonotonicClock.ReadCoarseNowTicks();
            _frame.Clocks.CoarseTicks = ticks;
        }

        return ticks;
    }
}
