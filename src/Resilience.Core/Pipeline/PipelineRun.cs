namespace Resilience;

/// <summary>
/// Everything one call through a pipeline needs. Lives on the caller's stack while the call completes
/// synchronously, and inside the one async state machine when something must be awaited.
/// </summary>
internal struct PipelineRun<TResult, TState, TCallback>
    where TCallback : struct, ICallback<TState, TResult>
{
    public CallFrame Frame;
    public SlotBuffer Slots;
    public StrategySlot[]? OverflowSlots;
    public TCallback Callback;
    public TState State;
    public RunPhase Phase;

    /// <summary>While entering: the next strategy to enter. While exiting: the next strategy to exit.</summary>
    public int Index;

    public Outcome<TResult> Outcome;

    /// <summary>Whether <see cref="Outcome"/> is what a fallback served, a strategy's of its own included, not what the call produced.</summary>
    public bool Served;

    public Task<Entry>? PendingEntry;
    public ValueTask<TResult> PendingCallback;
    public Task? PendingDelay;
    public ValueTask<Outcome<TResult>> PendingFallback;
}
