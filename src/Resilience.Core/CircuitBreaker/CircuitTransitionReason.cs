namespace Resilience;

/// <summary>Why a circuit breaker changed state.</summary>
public enum CircuitTransitionReason
{
    /// <summary>The failure ratio over the window reached <see cref="CircuitBreakerOptions.FailureRatio"/>.</summary>
    FailureRatio = 0,

    /// <summary>The slow-call ratio over the window reached <see cref="CircuitBreakerOptions.SlowCallRatio"/>.</summary>
    SlowCallRatio = 1,

    /// <summary><see cref="CircuitBreakerOptions.ConsecutiveFailures"/> calls failed in a row.</summary>
    ConsecutiveFailures = 2,

    /// <summary>The break duration passed; the next call is a probe.</summary>
    BreakElapsed = 3,

    /// <summary>Enough probes succeeded.</summary>
    ProbesSucceeded = 4,

    /// <summary>Too many probes failed (or were slow) for the success ratio to be reached.</summary>
    ProbeFailed = 5,

    /// <summary>Every probe slot stayed taken for <see cref="CircuitBreakerOptions.ProbeTimeout"/> after the last probe was admitted; a new round started.</summary>
    ProbeTimedOut = 6,

    /// <summary>Changed by hand with <see cref="CircuitBreaker.Isolate"/> or <see cref="CircuitBreaker.Close"/>.</summary>
    Manual = 7,
}
