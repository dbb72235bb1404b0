namespace Resilience.Tests.Linearizability;

/// <summary>A concurrency limiter's operation: its kind, its permits (or new limit) and the lease it acquires or releases.</summary>
internal readonly record struct InFlightCall(InFlightCallKind Kind, int Permits, int Lease)
{
    public override string ToString() => $"{Kind}({Permits}, lease {Lease})";
}
