using System.Collections.Concurrent;

namespace Resilience.Tests.Pipeline;

/// <summary>
/// A synchronization context that runs everything posted to it on one thread of its own, one item at a time, as a UI
/// thread or the classic ASP.NET request context does: while that thread is blocked, nothing posted to it runs.
/// </summary>
internal sealed class SingleThreadSynchronizationContext : SynchronizationContext, IDisposable
{
    private readonly BlockingCollection<(SendOrPostCallback Callback, object? State)> _queue = [];
    private readonly Thread _thread;
    private int _posted;

    public SingleThreadSynchronizationContext()
    {
        _thread = new Thread(Pump) { IsBackground = true, Name = "single-thread context" };
        _thread.Start();
    }

    /// <summary>Gets the id of the context's thread.</summary>
    public int ThreadId => _thread.ManagedThreadId;

    /// <summary>Gets how many items were posted to the context.</summary>
    public int Posted => Volatile.Read(ref _posted);

    public override void Post(SendOrPostCallback d, object? state)
    {
        Interlocked.Increment(ref _posted);
        try
        {
            _queue.Add((d, state));
        }
        catch (InvalidOperationException)
        {
            // Disposed: a continuation posted after the test ended has nowhere to run.
        }
    }

    public override void Send(SendOrPostCallback d, object? state) => throw new NotSupportedException("Send would block the sender on the context's thread.");

    public override SynchronizationContext CreateCopy() => this;

    /// <summary>Runs <paramref name="work"/> on the context's thread; the task completes with its result, off that thread.</summary>
    public Task<T> Run<T>(Func<T> work) => RunAsync(() => Task.FromResult(work()));

    /// <summary>Starts <paramref name="work"/> on the context's thread (its awaits return there); the task completes with its result.</summary>
    public Task<T> RunAsync<T>(Func<Task<T>> work)
    {
        var completion = new TaskCompletionSource<Task<T>>(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(
            _ =>
            {
                try
                {
                    completion.SetResult(work());
                }
                catch (Exception exception)
                {
                    completion.SetException(exception);
                }
            },
            null);
        return completion.Task.Unwrap();
    }

    public void Dispose() => _queue.CompleteAdding();

    private void Pump()
    {
        SetSynchronizationContext(this);
        foreach (var (callback, state) in _queue.GetConsumingEnumerable())
        {
            callback(state);
        }
    }
}
