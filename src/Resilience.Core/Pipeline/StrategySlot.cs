namespace Resilience;

/// <summary>One strategy's per-call data.</summary>
internal struct StrategySlot
{
    public long State;
    public object? StateObject;

    /// <summary>The token in force outside the strategy, restored when it exits; valid when <see cref="ReplacedToken"/>.</summary>
    public CancellationToken OuterToken;

    /// <summary>Whether the strategy replaced the token it passes inward. Most strategies never do, so the outer token
    /// is stored (by the context's setter) only when one does (a reference store on a hot path costs a write barrier).</summary>
    public bool ReplacedToken;
}
