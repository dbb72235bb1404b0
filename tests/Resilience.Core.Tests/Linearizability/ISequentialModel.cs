namespace Resilience.Tests.Linearizability;

/// <summary>
/// The sequential specification a concurrent object is checked against: applied to a state, an operation either gives
/// the observed answer (and a next state) or cannot have happened there.
/// </summary>
/// <typeparam name="TState">The model's state; equal states must compare equal (the checker memoises on them).</typeparam>
/// <typeparam name="TCall">What an operation asks.</typeparam>
/// <typeparam name="TAnswer">What an operation observes.</typeparam>
internal interface ISequentialModel<TState, in TCall, in TAnswer>
    where TState : notnull
{
    /// <summary>Applies <paramref name="call"/> to <paramref name="state"/>.</summary>
    /// <returns>Whether the model, in <paramref name="state"/>, answers <paramref name="observed"/>; if so, <paramref name="next"/> is its next state.</returns>
    bool TryApply(TState state, TCall call, TAnswer observed, out TState next);
}
