namespace Resilience;

/// <summary>
/// The answer of <see cref="CircuitBreaker.TryAcquire"/>: either permission to make one call, to be reported back
/// with <see cref="CircuitBreaker.Record"/>, or a rejection with the time left.
/// </summary>
public readonly struct CircuitPermit
{
    internal CircuitPermit(long token)
    {
        Token = token;
    }

    internal CircuitPermit(RejectionReason reason, TimeSpan? retryAfter)
    {
        RejectionReason = reason;
        RetryAfter = retryAfter;
    }

    /// <summary>Gets whether the call may go ahead.</summary>
    public bool IsAcquired => RejectionReason == RejectionReason.None;

    /// <summary>Gets why the call was refused: <see cref="Resilience.RejectionReason.BrokenCircuit"/> or <see cref="Resilience.RejectionReason.IsolatedCircuit"/>.</summary>
    public RejectionReason RejectionReason { get; }

    /// <summary>Gets the time until the breaker lets a probe through, when refused while open or half-open.</summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>Gets whether the call is a half-open probe.</summary>
    public bool IsProbe => IsAcquired && (Token & CircuitBreaker.ProbeBit) != 0;

    /// <summary>Gets the state generation the call was admitted in.</summary>
    public uint Generation => (uint)(Token >>> 32);

    /// <summary>The generation (high 32 bits), the probe flag and the start in milliseconds (low 31 bits; 0: untimed).</summary>
    internal long Token { get; }
}
