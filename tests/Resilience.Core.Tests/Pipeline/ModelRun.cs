using System.Diagnostics.CodeAnalysis;

namespace Resilience.Tests.Pipeline;

/// <summary>
/// One run of a scenario through the engine: the trace the scripted strategies and the callback record, the tokens
/// by name, and the callback's attempts as the scenario scripts them.
/// </summary>
internal sealed class ModelRun : IDisposable
{
    private readonly List<string> _trace = [];
    private readonly List<int> _offCallerThread = [];
    private readonly Dictionary<string, Exception> _raised = [];
    private readonly ModelScenario _scenario;
    private readonly int _callerThread = Environment.CurrentManagedThreadId;
    private int _attempts;

    public ModelRun(ModelScenario scenario)
    {
        _scenario = scenario;
        if (scenario.CancelledAtStart)
        {
            Tokens.CallerSource.Cancel();
        }
    }

    public ModelTokens Tokens { get; } = new();

    /// <summary>
    /// Gets or sets what runs after each line is added (given its index), on the thread that added it: the hook that
    /// recorded the line has not returned yet, so whatever this does happens at that point of the call.
    /// </summary>
    public Action<int>? LineAdded { get; set; }

    public IReadOnlyList<string> Trace
    {
        get
        {
            lock (_trace)
            {
                return [.. _trace];
            }
        }
    }

    /// <summary>Gets the indices of the trace's lines recorded on another thread than the caller's.</summary>
    public IReadOnlyList<int> OffCallerThread
    {
        get
        {
            lock (_trace)
            {
                return [.. _offCallerThread];
            }
        }
    }

    /// <summary>Keeps <paramref name="exception"/> by its message (unique in a run), to check the caller gets that very object.</summary>
    public T Raise<T>(T exception)
        where T : Exception
    {
        lock (_raised)
        {
            _raised[exception.Message] = exception;
        }

        return exception;
    }

    /// <summary>Describes the exception a call ended with, noting one that is not the object its raiser threw.</summary>
    public string DescribeFinal(Exception exception)
    {
        lock (_raised)
        {
            var same = !_raised.TryGetValue(exception.Message, out var raised) || ReferenceEquals(raised, exception);
            return ModelStrategy.Describe(exception) + (same ? string.Empty : " !identity");
        }
    }

    public void Add(string line)
    {
        int index;
        lock (_trace)
        {
            if (Environment.CurrentManagedThreadId != _callerThread)
            {
                _offCallerThread.Add(_trace.Count);
            }

            index = _trace.Count;
            _trace.Add(line);
        }

        LineAdded?.Invoke(index);
    }

    public void Dispose() => Tokens.Dispose();

    /// <summary>An attempt of a synchronous callback.</summary>
    public ModelValue CallSync(object? state, CancellationToken token)
    {
        var (attempt, kind) = Begin(state, token);

        switch (kind)
        {
            case ModelCall.SyncThrow or ModelCall.AsyncFaultLater:
                throw Raise(new IOException($"call#{attempt}"));
            case ModelCall.CancelCaller:
                Tokens.CallerSource.Cancel();
                throw Raise(new OperationCanceledException($"cancel#{attempt}", token));
            case ModelCall.ObserveToken when token.IsCancellationRequested:
                throw Raise(new OperationCanceledException($"observe#{attempt}", token));
            case ModelCall.ForeignCancel:
                throw Raise(new OperationCanceledException($"foreign#{attempt}"));
            default:
                return new ModelValue($"r{attempt}", this);
        }
    }

    /// <summary>An attempt of an asynchronous callback, completing as the scenario says.</summary>
    [SuppressMessage("Reliability", "CA2012:Use ValueTasks correctly", Justification = "Each task is returned once.")]
    public ValueTask<ModelValue> CallAsync(object? state, CancellationToken token)
    {
        var (attempt, kind) = Begin(state, token);
        var value = new ModelValue($"r{attempt}", this);
        switch (kind)
        {
            case ModelCall.SyncResult:
                return new ValueTask<ModelValue>(value);
            case ModelCall.SyncThrow:
                throw Raise(new IOException($"call#{attempt}"));
            case ModelCall.AsyncCompleted:
                return Completed(value);
            case ModelCall.AsyncLaterOnPool:
                return OnPool(value);
            case ModelCall.AsyncLaterBySource:
                return new ValueTask<ModelValue>(Later(value));
            case ModelCall.AsyncFaultLater:
                return FaultLater(Raise(new IOException($"call#{attempt}")));
            case ModelCall.CancelCaller:
                Tokens.CallerSource.Cancel();
                return FaultLater(Raise(new OperationCanceledException($"cancel#{attempt}", token)));
            case ModelCall.ForeignCancel:
                return FaultLater(Raise(new OperationCanceledException($"foreign#{attempt}")));
            default:
                return Observe(value, Raise(new OperationCanceledException($"observe#{attempt}", token)), token);
        }

        static async ValueTask<ModelValue> Completed(ModelValue value)
        {
            await Task.CompletedTask.ConfigureAwait(false);
            return value;
        }

        static async ValueTask<ModelValue> OnPool(ModelValue value)
        {
            await Task.Run(static () => { }).ConfigureAwait(false);
            return value;
        }

        static async ValueTask<ModelValue> FaultLater(Exception failure)
        {
            await Task.Run(static () => { }).ConfigureAwait(false);
            throw failure;
        }

        static async ValueTask<ModelValue> Observe(ModelValue value, OperationCanceledException cancelled, CancellationToken token)
        {
            // Completes without waiting: cancelled (an async method's task) when the token is.
            await Task.CompletedTask.ConfigureAwait(false);
            return token.IsCancellationRequested ? throw cancelled : value;
        }
    }

    /// <summary>A task a thread-pool thread completes, its continuations run asynchronously.</summary>
    public static Task<T> Later<T>(T value)
    {
        var source = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        ThreadPool.QueueUserWorkItem(static state => state.Source.SetResult(state.Value), (Source: source, Value: value), preferLocal: false);
        return source.Task;
    }

    /// <summary>A task a thread-pool thread faults.</summary>
    public static Task<T> FaultLater<T>(Exception failure)
    {
        var source = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        ThreadPool.QueueUserWorkItem(static state => state.Source.SetException(state.Failure), (Source: source, Failure: failure), preferLocal: false);
        return source.Task;
    }

    private (int Attempt, ModelCall Kind) Begin(object? state, CancellationToken token)
    {
        var attempt = _attempts++;
        var kind = _scenario.Calls[Math.Min(attempt, _scenario.Calls.Length - 1)];
        Add($"call#{attempt} tok={Tokens.NameOf(token)}{(state is null || ReferenceEquals(state, this) ? string.Empty : " !state")}");
        return (attempt, kind);
    }
}
