namespace Resilience.Tests.Linearizability;

/// <summary>What a circuit breaker's operation in a checked history is.</summary>
internal enum BreakerCallKind
{
    /// <summary><c>TryAcquire</c>: admitted (as a probe or not, in a generation) or refused (a reason, a retry-after).</summary>
    Acquire,

    /// <summary><c>Record</c> of a permit of <c>Generation</c> (a probe's or not) with <c>Result</c>.</summary>
    Record,

    /// <summary><c>Isolate()</c>.</summary>
    Isolate,

    /// <summary><c>Close()</c>.</summary>
    Close,

    /// <summary><c>State</c>.</summary>
    State,

    /// <summary><c>GetSnapshot()</c>: its state and generation (its figures are window sums, not part of the check).</summary>
    Snapshot,
}
