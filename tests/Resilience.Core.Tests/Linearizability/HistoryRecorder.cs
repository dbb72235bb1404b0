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
        var invoked = Stamp();
        var answer = operation();
        Add(thread, invoked, Stamp(), call, answer);
        return answer;
    }

    /// <summary>Takes the next stamp: for an operation whose response another operation's thread sees (a task completing).</summary>
    public long Stamp() => Interlocked.Increment(ref _clock);

    /// <summary>Records an operation stamped by <see cref="Stamp"/> on the calling thread (<paramref name="thread"/>).</summary>
    public void Add(int thread, long invoked, long returned, TCall call, TAnswer answer) =>
        _byThread[thread].Add(new HistoryOperation<TCall, TAnswer>(thread, invoked, returned, call, answer));

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
