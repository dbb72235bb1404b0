namespace Resilience;

/// <summary>
/// What <see cref="CircuitBreaker.TryAcquire"/> handed out: permission to make one call, to be reported back with
/// <see cref="CircuitBreaker.Record(in CircuitPermit, CircuitCallResult)"/>, or a refusal with the time left.
/// The default value is neither: recording it changes nothing.
/// </summary>
public readonly struct CircuitPermit
{
    // Two words, so a permit is returned in registers: the token (generation, probe flag, start stamp) and the packed
    // rejection (reason and retry-after, as Rejection packs them).
    private readonly long _token;
    private readonly long _rejection;

    internal CircuitPermit(long token, long rejection)
    {
        _token = token;
        _rejection = rejection;
    }

    /// <summary>Gets whether the call may go ahead.</summary>
    public bool IsAcquired => (_token & CircuitBreaker.AcquiredFlag) != 0;

    /// <summary>Gets whether the call is a half-open probe.</summary>
    public bool IsProbe => (_token & (CircuitBreaker.AcquiredFlag | CircuitBreaker.ProbeFlag)) == (CircuitBreaker.AcquiredFlag | CircuitBreaker.ProbeFlag);

    /// <summary>Gets the state generation the call was admitted in.</summary>
    public uint Generation => (uint)(_token >>> 32);

    /// <summary>Gets why the call was refused: <see cref="Resilience.RejectionReason.BrokenCircuit"/>, <see cref="Resilience.RejectionReason.IsolatedCircuit"/>, or <see cref="Resilience.RejectionReason.None"/> when it was not.</summary>
    public RejectionReason RejectionReason => (RejectionReason)(_rejection & 7);

    /// <summary>Gets the time until the breaker lets a probe through, when refused while open or half-open.</summary>
    public TimeSpan? RetryAfter => (_rejection >> 3) is var ticks && ticks > 0 ? new TimeSpan(ticks - 1) : null;

    internal long Token => _token;

    /// <summary>Gets the packed rejection of a refused permit.</summary>
    internal long PackedRejection => _rejection;
}
