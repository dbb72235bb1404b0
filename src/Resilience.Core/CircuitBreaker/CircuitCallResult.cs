namespace Resilience;

/// <summary>How a call admitted by a breaker ended, as the breaker counts it.</summary>
public enum CircuitCallResult
{
    /// <summary>The dependency answered well.</summary>
    Success = 0,

    /// <summary>The dependency failed.</summary>
    Failure = 1,

    /// <summary>Neither: the caller cancelled, or the outcome says nothing of the dependency's health. A probe's slot is freed.</summary>
    Ignored = 2,
}
