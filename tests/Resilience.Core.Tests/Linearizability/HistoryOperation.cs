namespace Resilience.Tests.Linearizability;

/// <summary>
/// One completed operation of a concurrent history: what was asked, what was observed, and when it was invoked and
/// returned on a clock every thread of the history shares (so an operation that returned before another was invoked
/// precedes it in real time).
/// </summary>
/// <typeparam name="TCall">What the operation asked.</typeparam>
/// <typeparam name="TAnswer">What the operation observed.</typeparam>
internal sealed record HistoryOperation<TCall, TAnswer>(int Thread, long Invoked, long Returned, TCall Call, TAnswer Answer)
{
    public override string ToString() => $"t{Thread} [{Invoked}, {Returned}] {Call} -> {Answer}";
}
