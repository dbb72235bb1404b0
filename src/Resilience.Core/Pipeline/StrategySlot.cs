namespace Resilience;

/// <summary>One strategy's per-call data.</summary>
internal struct StrategySlot
{
    public long State;
    public object? StateObject;

    /// <summary>The token in force outside the strategy, restored when it exits.</summary>
    public CancellationToken OuterToken;
}
