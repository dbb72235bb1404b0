namespace Resilience.Tests.Linearizability;

/// <summary>
/// Records a concurrent history: each thread records its own operations, stamped from one shared counter incremented
/// just before the operation is invoked and just after it returns, so the stamps order invocations and responses as
/// they happened in real time.
/// </summary>
/// <typeparam name="TCall">What an operation asks.</typeparam>
/// <typeparam name="TAnswer">What an operation observes.</typeparam>
internal sealed class HistoryRecorder<TCall, TAnswer>
{
    private readonly List<HistoryOperation<TCall, TAnswer>>[] _byThread;
    private long _clock;

    public HistoryRecorder(int threads)
    {
        _byThread = new List<HistoryOperation<TCall, TAnswer>>[threads];
        for (var i = 0; i < threads; i++)
        {
            _byThread[i] = [];
        }
    }

    /// <summary>Runs one operation on the calling thread (<paramref name="thread"/>) and records it.</summary>
    public TAnswer Record(int thread, TCall call, Func<TAnswer> operation)
    {
        var invoked = Interlocked.Increment(ref _clock);
        var answer = operation();
        var returned = Interlocked.Increment(ref _clock);
        _byThread[thread].Add(new HistoryOperation<TCall, TAnswer>(thread, invoked, returned, call, answer));
        return answer;
    }

    /// <summary>Takes the history recorded so far and starts a new one; call it only while no thread records.</summary>
    public List<HistoryOperation<TCall, TAnswer>> Take()
    {
        var history = _byThread.SelectMany(operations => operations).OrderBy(operation => operation.Invoked).ToList();
        foreach (var operations in _byThread)
        {
            operations.Clear();
        }

        return history;
    }
}
