namespace Resilience.Tests.Linearizability;

/// <summary>
/// Decides whether a history of completed operations is linearizable against a sequential model (Wing and Gong's
/// search): it looks for a total order that keeps every real-time precedence (an operation that returned before another
/// was invoked comes first) and in which the model, applied in that order, gives every observed answer. The search
/// backtracks over the operations that may come next and memoises each (set of operations linearized, model state) it
/// has explored, so a history of a few dozen operations is decided at once.
/// </summary>
/// <typeparam name="TState">The model's state.</typeparam>
/// <typeparam name="TCall">What an operation asks.</typeparam>
/// <typeparam name="TAnswer">What an operation observes.</typeparam>
internal sealed class LinearizabilityChecker<TState, TCall, TAnswer>(ISequentialModel<TState, TCall, TAnswer> model)
    where TState : notnull
{
    /// <summary>The most operations one history may hold (the set linearized is a 64-bit mask).</summary>
    public const int MaxOperations = 64;

    /// <summary>Whether <paramref name="history"/> is linearizable from <paramref name="initial"/>.</summary>
    public bool IsLinearizable(TState initial, IReadOnlyList<HistoryOperation<TCall, TAnswer>> history) =>
        FinalStates([initial], history).Count > 0;

    /// <summary>
    /// Every state the model can end in after some linearization of <paramref name="history"/> from one of
    /// <paramref name="initial"/>: empty when the history is not linearizable. Rounds of a longer run are chained through it.
    /// </summary>
    public IReadOnlySet<TState> FinalStates(IEnumerable<TState> initial, IReadOnlyList<HistoryOperation<TCall, TAnswer>> history)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(history.Count, MaxOperations);
        var all = history.Count == MaxOperations ? ulong.MaxValue : (1UL << history.Count) - 1;
        var finals = new HashSet<TState>();
        var explored = new HashSet<(ulong Done, TState State)>();
        foreach (var state in initial)
        {
            Explore(history, all, 0, state, explored, finals);
        }

        return finals;
    }

    private void Explore(IReadOnlyList<HistoryOperation<TCall, TAnswer>> history, ulong all, ulong done, TState state, HashSet<(ulong, TState)> explored, HashSet<TState> finals)
    {
        if (done == all)
        {
            finals.Add(state);
            return;
        }

        if (!explored.Add((done, state)))
        {
            return;
        }

        // An operation may come next only if no pending one returned before it was invoked.
        var firstReturn = long.MaxValue;
        for (var i = 0; i < history.Count; i++)
        {
            if ((done & (1UL << i)) == 0)
            {
                firstReturn = Math.Min(firstReturn, history[i].Returned);
            }
        }

        for (var i = 0; i < history.Count; i++)
        {
            var operation = history[i];
            if ((done & (1UL << i)) == 0 && operation.Invoked < firstReturn
                && model.TryApply(state, operation.Call, operation.Answer, out var next))
            {
                Explore(history, all, done | (1UL << i), next, explored, finals);
            }
        }
    }
}
