namespace Resilience;

/// <summary>Why a strategy refused to run a call.</summary>
public enum RejectionReason
{
    /// <summary>The call was not rejected.</summary>
    None = 0,

    /// <summary>A circuit breaker is open or half-open with every probe slot taken.</summary>
    BrokenCircuit = 1,

    /// <summary>A circuit breaker is held open by hand.</summary>
    IsolatedCircuit = 2,

    /// <summary>A rate or concurrency limiter had no permit.</summary>
    RateLimited = 3,

    /// <summary>A custom strategy rejected the call.</summary>
    Custom = 4,
}
