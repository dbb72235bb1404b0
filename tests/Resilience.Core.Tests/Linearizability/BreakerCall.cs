namespace Resilience.Tests.Linearizability;

/// <summary>A circuit breaker's operation; a record carries the permit it reports (its generation, whether a probe) and the result.</summary>
internal readonly record struct BreakerCall(BreakerCallKind Kind, uint Generation = 0, bool Probe = false, CircuitCallResult Result = CircuitCallResult.Success)
{
    public override string ToString() => Kind == BreakerCallKind.Record ? $"Record({Result}, gen {Generation}{(Probe ? ", probe" : "")})" : Kind.ToString();
}
