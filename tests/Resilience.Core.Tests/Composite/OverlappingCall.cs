namespace Resilience.Tests.Composite;

/// <summary>
/// The pipeline's side of one call of the overlapping script: its key (what the last-known-good level reads), the value
/// it returns, the caller's token, and its attempts, each a task the script completes (its continuations run
/// asynchronously, as a real dependency's would: the pipeline goes on on the thread pool). An attempt's task is
/// cancelled when its token is, unless the call's attempts ignore their token. Every attempt made and the call's end release <paramref name="moved"/>.
/// A call that is not <paramref name="cancellable"/> passes <see cref="CancellationToken.None"/>; a
/// <paramref name="synchronous"/> one runs the blocking form (<c>ExecuteOutcome</c>) on a thread of its own, its attempt
/// blocking that thread until the script completes it. One <paramref name="cancelledAtStart"/> has its caller's token
/// cancelled before it starts.
/// </summary>
internal sealed class OverlappingCall(string key, int value, bool ignoresToken, SemaphoreSlim moved, bool cancellable = true, bool synchronous = false, bool cancelledAtStart = false) : IDisposable
{
    // A blocked attempt gives up after this (a script that forgot it would otherwise hold its thread for ever).
    private static readonly TimeSpan LongestBlock = TimeSpan.FromSeconds(60);

    private TaskCompletionSource<int>? _pending;
    private int _invocations;
    private int _thread;
    private int _strayAttempts;

    public string Key { get; } = key;

    public int Value { get; } = value;

    public CancellationTokenSource Caller { get; } = new();

    public int Invocations => Volatile.Read(ref _invocations);

    /// <summary>Gets the attempts of a blocking call that ran on another thread than its caller's (the docs: none).</summary>
    public int StrayAttempts => Volatile.Read(ref _strayAttempts);

    /// <summary>Gets whether an attempt waits for the script.</summary>
    public bool InAttempt => Volatile.Read(ref _pending) is { Task.IsCompleted: false };

    public Task<Outcome<int>>? Task { get; private set; }

    public void Start(ResiliencePipeline<int> pipeline)
    {
        var token = cancellable ? Caller.Token : CancellationToken.None;
        if (cancelledAtStart)
        {
            Caller.Cancel();
        }

        if (synchronous)
        {
            var ended = new TaskCompletionSource<Outcome<int>>(TaskCreationOptions.RunContinuationsAsynchronously);
            var thread = new Thread(() =>
            {
                Volatile.Write(ref _thread, Environment.CurrentManagedThreadId);
                ended.SetResult(pipeline.ExecuteOutcome(static (c, ct) => c.Invoke(ct), this, token));
            })
            { IsBackground = true, Name = $"blocking call {Value}" };
            Task = ended.Task;
            thread.Start();
        }
        else
        {
            Task = pipeline.ExecuteOutcomeAsync(static (c, ct) => c.InvokeAsync(ct), this, token).AsTask();
        }

        _ = Task.ContinueWith(static (_, m) => ((SemaphoreSlim)m!).Release(), moved, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>Completes the attempt that waits: with the call's value, a handled failure, a failed result or an unhandled failure.</summary>
    public void Complete(AttemptKind kind)
    {
        var pending = Volatile.Read(ref _pending)!;
        _ = kind switch
        {
            AttemptKind.Ok => pending.TrySetResult(Value),
            AttemptKind.FailedResult => pending.TrySetResult(-1),
            AttemptKind.Throws => pending.TrySetException(new InvalidOperationException("scripted failure")),
            _ => pending.TrySetException(new ArgumentException("scripted unhandled failure")),
        };
    }

    public void Dispose() => Caller.Dispose();

    private ValueTask<int> InvokeAsync(CancellationToken cancellationToken) => new(Attempt(cancellationToken));

    /// <summary>The blocking form's attempt: it holds its thread until the script completes it (or its token cancels it).</summary>
    private int Invoke(CancellationToken cancellationToken)
    {
        // The blocking form runs every attempt on its caller's thread, after a wait too (retry.md).
        if (Environment.CurrentManagedThreadId != Volatile.Read(ref _thread))
        {
            Interlocked.Increment(ref _strayAttempts);
        }

        var attempt = Attempt(cancellationToken);
        if (!((IAsyncResult)attempt).AsyncWaitHandle.WaitOne(LongestBlock))
        {
            throw new TimeoutException("the script never completed the attempt");
        }

        return attempt.GetAwaiter().GetResult();
    }

    private Task<int> Attempt(CancellationToken cancellationToken)
    {
        var pending = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!ignoresToken)
        {
            cancellationToken.Register(static (p, token) => ((TaskCompletionSource<int>)p!).TrySetCanceled(token), pending);
        }

        Volatile.Write(ref _pending, pending);
        Interlocked.Increment(ref _invocations);
        moved.Release();
        return pending.Task;
    }
}
