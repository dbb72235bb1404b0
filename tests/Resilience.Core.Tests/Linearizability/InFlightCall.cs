namespace Resilience.Tests.Linearizability;

/// <summary>
/// A concurrency limiter's operation: its kind, its permits (or new limit) and the lease it acquires or releases; for
/// an acquisition, whether it was called before a disposal returned (it may have looked at disposal before it).
/// </summary>
internal readonly record struct InFlightCall(InFlightCallKind Kind, int Permits, int Lease, bool CalledBeforeDisposal = false)
{
    public override string ToString() => $"{Kind}({Permits}, lease {Lease}){(CalledBeforeDisposal ? " before disposal" : "")}";
}
