using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace Resilience;

/// <summary>
/// Executes calls through a pipeline: one interpreter (<see cref="Step"/>) that advances a call as far as it can
/// without waiting, and one async loop that awaits whatever the call is waiting for and steps again.
/// A call that never waits costs no async state machine at all.
/// </summary>
internal static class PipelineEngine
{
    /// <summary>
    /// Starts a call: returns its outcome when it completed without waiting (<paramref name="continuation"/> is then
    /// <see langword="null"/>); otherwise <paramref name="continuation"/> carries the rest of the call.
    /// </summary>
    /// <remarks>
    /// The outcome is written once, into the caller's variable, and read field by field: a copy of a freshly written
    /// struct (vector loads over narrower stores) stalls store forwarding, measured at a third of a one-strategy call.
    /// Each branch here passes the caller's variable on as the callee's return buffer. Pipelines of one or two strategies
    /// skip this call (<see cref="Begin"/>), whose two calls each write the caller's variable too, as the disassembly of
    /// a caller shows.
    /// </remarks>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static Outcome<TResult> Start<TResult, TState, TCallback>(
        PipelineCore pipeline, TCallback callback, TState state, CancellationToken cancellationToken, out Task<Outcome<TResult>>? continuation)
        where TCallback : struct, ICallback<TState, TResult>
    {
        // A caller that already cancelled gets its cancellation and nothing runs (no permit taken, no callback), as
        // Polly and the BCL limiters answer it: one read of the token per call (a null check for the default token),
        // none per strategy.
        if (cancellationToken.IsCancellationRequested)
        {
            return CancelledAtStart<TResult>(pipeline, cancellationToken, out continuation);
        }

        // Every local of the fast path is zeroed on entry, its slots included: short pipelines (the common case) run
        // on a frame sized for them, of two, four or six slots (four instead of six: 64 bytes less to zero, about 2 ns
        // of a four-strategy call). A telemetry pipeline may drop to its quiet core, one strategy shorter: its slots
        // still fit it.
        if (pipeline.Strategies.Length <= SlotPair.Length)
        {
            return RunInline<TResult, TState, TCallback, SlotPair>(pipeline, callback, state, cancellationToken, out continuation);
        }

        if (pipeline.Strategies.Length <= SlotQuad.Length)
        {
            return RunInline<TResult, TState, TCallback, SlotQuad>(pipeline, callback, state, cancellationToken, out continuation);
        }

        return RunInline<TResult, TState, TCallback, SlotBuffer>(pipeline, callback, state, cancellationToken, out continuation);
    }

    /// <summary>
    /// Starts a call as <see cref="Start"/> does, calling the fast path of a pipeline of one or two strategies (the common
    /// case) directly: one call fewer, about 0.5 ns. Both calls write the caller's own variable, as their return buffer.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Begin<TResult, TState, TCallback>(
        PipelineCore pipeline, TCallback callback, TState state, CancellationToken cancellationToken, out Outcome<TResult> outcome, out Task<Outcome<TResult>>? continuation)
        where TCallback : struct, ICallback<TState, TResult>
    {
        if (RunsOnPair(pipeline, cancellationToken))
        {
            outcome = RunInline<TResult, TState, TCallback, SlotPair>(pipeline, callback, state, cancellationToken, out continuation);
        }
        else
        {
            outcome = Start<TResult, TState, TCallback>(pipeline, callback, state, cancellationToken, out continuation);
        }
    }

    /// <summary>Whether a call may skip <see cref="Start"/> for the fast path on two slots: what Start would choose itself.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool RunsOnPair(PipelineCore pipeline, CancellationToken cancellationToken) =>
        !cancellationToken.IsCancellationRequested && pipeline.FitsPair;

    /// <summary>Runs a call through <paramref name="core"/>, or as it is when the core has no strategies; the task completes with its outcome.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ValueTask<Outcome<TResult>> RunOutcomeAsync<TResult, TState>(
        PipelineCore core, Func<TState, CancellationToken, ValueTask<TResult>> callback, TState state, CancellationToken cancellationToken) =>
        core.IsEmpty
            ? RunDirect<TResult, TState, AsyncCallback<TState, TResult>>(new(callback), state, cancellationToken)
            : RunAsync<TResult, TState, AsyncCallback<TState, TResult>>(core, new(callback), state, cancellationToken);

    /// <summary>Runs a synchronous call through <paramref name="core"/>, or as it is when the core has no strategies, and returns its outcome.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Outcome<TResult> RunOutcome<TResult, TState>(
        PipelineCore core, Func<TState, CancellationToken, TResult> callback, TState state, CancellationToken cancellationToken) =>
        core.IsEmpty
            ? RunDirectSync(callback, state, cancellationToken)
            : Run<TResult, TState, SyncCallback<TState, TResult>>(core, new(callback), state, cancellationToken);

    /// <summary>Runs a call; the task completes with its outcome.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ValueTask<Outcome<TResult>> RunAsync<TResult, TState, TCallback>(
        PipelineCore pipeline, TCallback callback, TState state, CancellationToken cancellationToken)
        where TCallback : struct, ICallback<TState, TResult>
    {
        Begin<TResult, TState, TCallback>(pipeline, callback, state, cancellationToken, out var outcome, out var continuation);
        return continuation is null ? new ValueTask<Outcome<TResult>>(outcome) : new ValueTask<Outcome<TResult>>(continuation);
    }

    /// <summary>Runs a call; the task completes with its result or fails with its failure.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ValueTask<TResult> RunForResultAsync<TResult, TState, TCallback>(
        PipelineCore pipeline, TCallback callback, TState state, CancellationToken cancellationToken)
        where TCallback : struct, ICallback<TState, TResult>
    {
        Begin<TResult, TState, TCallback>(pipeline, callback, state, cancellationToken, out var outcome, out var continuation);
        if (continuation is not null)
        {
            return AwaitResult(continuation);
        }

        return outcome.IsSuccess ? new ValueTask<TResult>(outcome.Result!) : FromFailure<TResult>(outcome.Exception!);

        static async ValueTask<TResult> AwaitResult(Task<Outcome<TResult>> continuation) =>
            (await continuation.ConfigureAwait(false)).GetResultOrThrow();
    }

    /// <summary>Runs a call that returns nothing; the task completes with it or fails with its failure.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ValueTask RunForCompletionAsync<TState, TCallback>(
        PipelineCore pipeline, TCallback callback, TState state, CancellationToken cancellationToken)
        where TCallback : struct, ICallback<TState, VoidResult>
    {
        Begin<VoidResult, TState, TCallback>(pipeline, callback, state, cancellationToken, out var outcome, out var continuation);
        if (continuation is not null)
        {
            return AwaitCompletion(continuation);
        }

        return outcome.IsSuccess ? default : Completion(FromFailure<VoidResult>(outcome.Exception!));

        static async ValueTask AwaitCompletion(Task<Outcome<VoidResult>> continuation) =>
            (await continuation.ConfigureAwait(false)).GetResultOrThrow();
    }

    /// <summary>Runs a call to its end, blocking while it waits, and returns its result or throws its failure.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TResult RunForResult<TResult, TState, TCallback>(
        PipelineCore pipeline, TCallback callback, TState state, CancellationToken cancellationToken)
        where TCallback : struct, ICallback<TState, TResult>
    {
        Begin<TResult, TState, TCallback>(pipeline, callback, state, cancellationToken, out var outcome, out var continuation);
        return continuation is null ? outcome.GetResultOrThrow() : WaitForResult(continuation);

        // Out of line, so that the caller's frame holds none of the wait's locals.
        [MethodImpl(MethodImplOptions.NoInlining)]
        static TResult WaitForResult(Task<Outcome<TResult>> continuation) => continuation.GetAwaiter().GetResult().GetResultOrThrow();
    }

    [SkipLocalsInit]
    private static Outcome<TResult> RunInline<TResult, TState, TCallback, TSlots>(
        PipelineCore pipeline, TCallback callback, TState state, CancellationToken cancellationToken, out Task<Outcome<TResult>>? continuation)
        where TCallback : struct, ICallback<TState, TResult>
        where TSlots : struct
    {
        if (pipeline.Quiet is { } quiet && !pipeline.Telemetry!.IsRecording)
        {
            pipeline = quiet;
        }

        if (pipeline.Strategies.Length > SlotBuffer.Length)
        {
            return RunGeneral<TResult, TState, TCallback>(pipeline, callback, state, cancellationToken, out continuation);
        }

        // Fast path: every strategy admits at once, the callback completes synchronously and every strategy lets
        // the outcome pass. The call's data stays in locals (no write barriers, no copies); the first event off
        // that path hands the call, as it stands, to the general interpreter.
        var frame = new CallFrame { Pipeline = pipeline, CallerToken = cancellationToken, Token = cancellationToken };

        // Every slot starts zeroed, as one block: a vector store per 64 bytes, where clearing each slot's fields cost three
        // stores a strategy. (The prologue zeroes them too, since they hold references; the language does not promise it.)
        var slots = default(TSlots);

        // The strategies are read inside the protected region, from the frame, and the pipeline is not used there: the
        // JIT keeps a reference that lives into the region on the stack and reloads it right away, and a reload that
        // close to the prologue's vector zeroing of the frame stalls on some processors (about 3 ns a call on a Zen 4
        // host). For the same reason the handler is a catch that rethrows rather than a filter, with which the JIT
        // kept more of the region's locals on the stack (about 0.7 ns a call there).
        //
        // Where the call stands, for a hook that throws: the strategy's index times four plus the hook (Entering,
        // Judging or Exiting), or Handed once the general interpreter has the call. One protected region around both
        // passes, rather than one per hook, keeps the passes' locals in registers; only this word is stored as the
        // call moves on. A strategy that admits marks the next one as entering: past the last, that marks the callback.
        // The callback has no handler of its own: one made its returned value live across a protected region's edge,
        // which kept it on the stack (stored and reloaded on every call, about 2 ns of a one-strategy call on a Zen 4
        // host). A callback that throws, or whose task throws when read (a pooled source read after it was reused), is
        // answered by this region's handler: the general interpreter exits the strategies with its exception.
        var progress = 0;
        var rejectedAt = 0;
        long packedRejection = 0;
        // The result is read only once the callback returned it: no store before then.
        Unsafe.SkipInit(out TResult? result);
        Exception? exception = null;
        try
        {
            var strategies = frame.Pipeline.Strategies;
            // One context serves both passes: each context is a pair of references the prologue zeroes, and one fewer
            // kept a breaker's asynchronous call under the frame size the JIT zeroes without a loop (about 2 ns).
            scoped StrategyContext context;
            Unsafe.SkipInit(out context);
            Unsafe.SkipInit(out ExitOutcome judgedHere);
            for (var index = 0; index < strategies.Length; index++)
            {
                ref var slot = ref SlotAt(ref slots, index);
                context = new StrategyContext(ref frame, ref slot);
                var entry = strategies[index].Enter(ref context);
                if (!entry.IsPlainAdmission)
                {
                    progress = Handed;
                    if (entry.Kind != EntryKind.Rejected)
                    {
                        return ResumeAtEntry<TResult, TState, TCallback, TSlots>(ref frame, ref slots, callback, state, index, entry, out continuation);
                    }

                    // A rejection (an open circuit, no permit) stays on the fast path: only the outer strategies exit.
                    RestoreToken(ref frame, ref slot);
                    rejectedAt = index;
                    packedRejection = entry.PackedRejection;
                    goto Rejected;
                }

                progress = ((index + 1) << 2) | Entering;
            }

            // The outcome stays in two locals: building an Outcome per exit would cost copies on the hottest path.
            if (callback.IsSynchronous)
            {
                result = callback.InvokeSync(state, frame.Token);
            }
            else
            {
                var call = callback.Invoke(state, frame.Token);
                if (call.IsCompletedSuccessfully)
                {
                    // The common case, read in place: a result the callback returned without waiting.
                    result = call.Result;
                }
                else if (!call.IsCompleted)
                {
                    progress = Handed;
                    return ResumeAtCallback<TResult, TState, TCallback, TSlots>(ref frame, ref slots, callback, state, call, out continuation);
                }
                else
                {
                    exception = Unwrap(call, out result);
                }
            }

            frame.NewPass();

            // The innermost strategy exits through the context it was entered with: one fewer built, two stores fewer.
            for (var index = strategies.Length - 1; index >= 0; index--)
            {
                ref var slot = ref SlotAt(ref slots, index);
                var strategy = strategies[index];

                // A result that no predicate of this strategy judges passes in place (the common case: most strategies have
                // none), as a shared outcome that costs no store. Any other judgement runs out of line: inlined, its
                // temporaries enlarged the frame every call zeroes, by 32 to 80 bytes (past the size the JIT zeroes without
                // a loop for five strategies). Only a judgement or a look at the result can throw, so only they mark it.
                scoped ref readonly var judged = ref ExitOutcome.Passed;
                if (!PassesUnjudged(frame.Pipeline, index, exception))
                {
                    progress = (index << 2) | Judging;
                    judgedHere = JudgeOutOfLine(frame.Pipeline, index, result, exception, frame.CallerToken);
                    judged = ref judgedHere;
                }

                // A look at the result that throws is judged as a throwing predicate is: the strategy still exits.
                if (strategy.ObservesResults && judged.IsSuccess)
                {
                    progress = (index << 2) | Judging;
                    strategy.ObserveResult(result, state);
                }

                progress = (index << 2) | Exiting;
                var action = strategy.Exit(ref context, in judged);
                if (!action.IsContinue)
                {
                    progress = Handed;
                    return ResumeAtExit<TResult, TState, TCallback, TSlots>(ref frame, ref slots, callback, state, index, ToOutcome(result, exception), action, out continuation);
                }

                RestoreToken(ref frame, ref slot);
                if (index > 0)
                {
                    context = new StrategyContext(ref frame, ref SlotAt(ref slots, index - 1));
                }
            }
        }
        catch (Exception thrown)
        {
            if (progress == Handed)
            {
                // The general interpreter answers for what it throws.
                throw;
            }

            return ResumeAtFailedHook<TResult, TState, TCallback, TSlots>(ref frame, ref slots, callback, state, progress, result, exception, thrown, out continuation);
        }

        continuation = null;
        return exception is null ? new Outcome<TResult>(result!) : Failed<TResult>(exception);

    // A rejection is finished outside the protected region, where the JIT hands this method's own return buffer to the
    // call that builds the outcome; from inside, the outcome came back through a temporary, copied out with a vector
    // load of fields just stored one by one, which stalls (about 6 ns a rejection on a Zen 4 host).
    Rejected:
        if (rejectedAt == 0)
        {
            // No strategy outside the rejecting one to exit: the rejection is the outcome, built here, without the
            // frame RejectFast needs for its exits.
            continuation = null;
            return RejectedOutcome<TResult>(frame.Pipeline, packedRejection);
        }

        return RejectFast<TResult, TState, TCallback, TSlots>(ref frame, ref slots, callback, state, rejectedAt, packedRejection, out continuation);
    }

    /// <summary>
    /// The outcome of a call its outermost strategy refused, told to the pipeline's telemetry. Out of line, and called
    /// where it writes the caller's own return buffer: inlined, its temporaries (a rejection and an outcome, 40 bytes)
    /// were part of the fast path's frame, zeroed on every call.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Outcome<TResult> RejectedOutcome<TResult>(PipelineCore pipeline, long packedRejection)
    {
        var rejection = new Rejection(pipeline.RejectionSources[0], packedRejection);
        if (pipeline.Telemetry is { } telemetry)
        {
            TellRejected(telemetry, rejection);
        }

        return new Outcome<TResult>(in rejection);
    }

    // Out of line, so that the caller's rejection is passed in registers and never goes through its stack.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void TellRejected(Telemetry.TelemetryStrategy telemetry, Rejection rejection) => telemetry.OnRejected(in rejection);

    /// <summary>
    /// A call whose caller's token was cancelled before it started: no policy strategy enters, the callback is not
    /// invoked, and the outcome is the caller's cancellation. The telemetry strategy, an observer, still counts the call
    /// (as cancelled) while someone listens, as it counts any call its caller cancelled.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Outcome<TResult> CancelledAtStart<TResult>(PipelineCore pipeline, CancellationToken cancellationToken, out Task<Outcome<TResult>>? continuation)
    {
        continuation = null;
        var cancelled = new OperationCanceledException(cancellationToken);
        if (pipeline.Quiet is not null && pipeline.Telemetry!.IsRecording)
        {
            var frame = new CallFrame { Pipeline = pipeline, CallerToken = cancellationToken, Token = cancellationToken };
            var slot = default(StrategySlot);
            var context = new StrategyContext(ref frame, ref slot);
            var telemetry = pipeline.Telemetry;
            telemetry.Enter(ref context);
            frame.NewPass();
            telemetry.Exit(ref context, new ExitOutcome(cancelled, isHandled: false, isCallerCancelled: true));
        }

        return new Outcome<TResult>(cancelled);
    }

    /// <summary>
    /// An outcome holding <paramref name="exception"/>, built out of line: the fast path's own store of the outcome
    /// then writes no reference, and needs no write barrier.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Outcome<TResult> Failed<TResult>(Exception exception) => new(exception);

    // The hooks of RunInline's progress word (its low two bits).
    private const int Entering = 0;
    private const int Judging = 1;
    private const int Exiting = 2;

    // The call was handed to the general interpreter, which answers for what it throws.
    private const int Handed = -1;

    /// <summary>Restores the token a strategy was entered with, if it replaced it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RestoreToken(ref CallFrame frame, ref StrategySlot slot)
    {
        if (slot.ReplacedToken)
        {
            frame.Token = slot.OuterToken;
        }
    }

    /// <summary>A hook threw on the fast path: hands the call, where it stood (<paramref name="progress"/>), to the general interpreter.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Outcome<TResult> ResumeAtFailedHook<TResult, TState, TCallback, TSlots>(
        ref CallFrame frame, ref TSlots slots, TCallback callback, TState state, int progress, TResult? result, Exception? exception, Exception thrown, out Task<Outcome<TResult>>? continuation)
        where TCallback : struct, ICallback<TState, TResult>
        where TSlots : struct
    {
        var index = progress >> 2;
        switch (progress & 3)
        {
            case Entering when index == frame.Pipeline.Strategies.Length:
                // Every strategy admitted the call: the callback threw, or its task could not be read; the callback failed.
                return ResumeAtFailedCallback<TResult, TState, TCallback, TSlots>(ref frame, ref slots, callback, state, thrown, out continuation);
            case Entering:
                // A strategy that throws did not admit the call; the ones outside it must still exit, and see why.
                RestoreToken(ref frame, ref SlotAt(ref slots, index));
                return ResumeAtFailedEntry<TResult, TState, TCallback, TSlots>(ref frame, ref slots, callback, state, index, thrown, out continuation);
            case Judging:
                // A predicate (or a look at the result) that throws: the strategy and the ones outside it must still exit.
                return ResumeAtFailedJudgement<TResult, TState, TCallback, TSlots>(ref frame, ref slots, callback, state, index, ToOutcome(result, exception), thrown, out continuation);
            default:
                // The strategies outside this one must still exit: the exception is the outcome they see.
                return ResumeAtFailedExit<TResult, TState, TCallback, TSlots>(ref frame, ref slots, callback, state, index, ToOutcome(result, exception), thrown, out continuation);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Outcome<TResult> ToOutcome<TResult>(TResult? result, Exception? exception) =>
        exception is null ? new Outcome<TResult>(result!) : new Outcome<TResult>(exception);

    /// <summary>Runs a call to its end, blocking while it waits, and returns its outcome.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Outcome<TResult> Run<TResult, TState, TCallback>(
        PipelineCore pipeline, TCallback callback, TState state, CancellationToken cancellationToken)
        where TCallback : struct, ICallback<TState, TResult>
    {
        if (callback.IsSynchronous)
        {
            // A synchronous callback's call never hands back a continuation (it blocks on its caller's thread instead):
            // the outcome goes straight into the caller's variable, not through a choice that copies it.
            return RunsOnPair(pipeline, cancellationToken)
                ? RunInline<TResult, TState, TCallback, SlotPair>(pipeline, callback, state, cancellationToken, out _)
                : Start<TResult, TState, TCallback>(pipeline, callback, state, cancellationToken, out _);
        }

        Begin<TResult, TState, TCallback>(pipeline, callback, state, cancellationToken, out var outcome, out var continuation);
        return continuation is null ? outcome : continuation.GetAwaiter().GetResult();
    }

    /// <summary>
    /// Runs a call through no strategies: the callback's outcome as it is. The non-throwing forms call it for an empty
    /// pipeline instead of the fast path, whose frame is zeroed on every entry.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static ValueTask<Outcome<TResult>> RunDirect<TResult, TState, TCallback>(TCallback callback, TState state, CancellationToken cancellationToken)
        where TCallback : struct, ICallback<TState, TResult>
    {
        // The same rule as through any pipeline: a caller that already cancelled runs nothing.
        if (cancellationToken.IsCancellationRequested)
        {
            return new ValueTask<Outcome<TResult>>(new Outcome<TResult>(new OperationCanceledException(cancellationToken)));
        }

        ValueTask<TResult> call;
        try
        {
            call = callback.Invoke(state, cancellationToken);
        }
        catch (Exception thrown)
        {
            return new ValueTask<Outcome<TResult>>(new Outcome<TResult>(thrown));
        }

        bool completed;
        try
        {
            completed = call.IsCompleted;
        }
        catch (Exception unreadable)
        {
            // A task that cannot be read (a pooled source read after it was reused) is the callback failing.
            return new ValueTask<Outcome<TResult>>(new Outcome<TResult>(unreadable));
        }

        return completed ? new ValueTask<Outcome<TResult>>(Complete(call)) : AwaitDirect(call);
    }

    /// <summary>
    /// Runs a call through no strategies for a throwing asynchronous form: a callback that throws before returning its
    /// task faults the returned task, as it does through any other pipeline.
    /// </summary>
    public static ValueTask<TResult> InvokeDirect<TResult, TState>(Func<TState, CancellationToken, ValueTask<TResult>> callback, TState state, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return FromFailure<TResult>(new OperationCanceledException(cancellationToken));
        }

        try
        {
            return callback(state, cancellationToken);
        }
        catch (Exception thrown)
        {
            return FromFailure<TResult>(thrown);
        }
    }

    /// <summary>Runs a call through no strategies for a throwing synchronous form: the callback, unless its caller already cancelled.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TResult InvokeDirectSync<TResult, TState>(Func<TState, CancellationToken, TResult> callback, TState state, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return callback(state, cancellationToken);
    }

    /// <summary>The form of <see cref="InvokeDirect{TResult, TState}"/> for callbacks that return nothing.</summary>
    public static ValueTask InvokeDirect<TState>(Func<TState, CancellationToken, ValueTask> callback, TState state, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Completion(FromFailure<VoidResult>(new OperationCanceledException(cancellationToken)));
        }

        try
        {
            return callback(state, cancellationToken);
        }
        catch (Exception thrown)
        {
            return Completion(FromFailure<VoidResult>(thrown));
        }
    }

    /// <summary>
    /// A task ended by <paramref name="exception"/> as an async method's would be, and so as a call that waited ends:
    /// cancelled for an <see cref="OperationCanceledException"/> (awaiting it rethrows that same exception), faulted
    /// otherwise. A caller's cancellation must not look like a failure to whoever inspects the task.
    /// </summary>
    private static ValueTask<TResult> FromFailure<TResult>(Exception exception)
    {
        return exception is OperationCanceledException ? Cancelled(exception) : ValueTask.FromException<TResult>(exception);

        static async ValueTask<TResult> Cancelled(Exception exception)
        {
            await Task.CompletedTask.ConfigureAwait(false);
            ExceptionDispatchInfo.Throw(exception);
            return default!;
        }
    }

    /// <summary>Views a completed <see cref="ValueTask{VoidResult}"/> as a <see cref="ValueTask"/>.</summary>
    private static ValueTask Completion(ValueTask<VoidResult> task) => new(task.AsTask());

    /// <summary>The synchronous form of <see cref="RunDirect"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static Outcome<TResult> RunDirectSync<TResult, TState>(Func<TState, CancellationToken, TResult> callback, TState state, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return new Outcome<TResult>(new OperationCanceledException(cancellationToken));
        }

        try
        {
            return new Outcome<TResult>(callback(state, cancellationToken));
        }
        catch (Exception thrown)
        {
            return new Outcome<TResult>(thrown);
        }
    }

    private static async ValueTask<Outcome<TResult>> AwaitDirect<TResult>(ValueTask<TResult> call)
    {
        try
        {
            return new Outcome<TResult>(await call.ConfigureAwait(false));
        }
        catch (Exception exception)
        {
            return new Outcome<TResult>(exception);
        }
    }

    /// <summary>Runs a call from its start on the general interpreter (pipelines longer than the inline slots).</summary>
    private static Outcome<TResult> RunGeneral<TResult, TState, TCallback>(
        PipelineCore pipeline, TCallback callback, TState state, CancellationToken cancellationToken, out Task<Outcome<TResult>>? continuation)
        where TCallback : struct, ICallback<TState, TResult>
    {
        var run = default(PipelineRun<TResult, TState, TCallback>);
        run.Frame = new CallFrame { Pipeline = pipeline, CallerToken = cancellationToken, Token = cancellationToken };
        run.Callback = callback;
        run.State = state;
        if (pipeline.Strategies.Length > SlotBuffer.Length)
        {
            run.OverflowSlots = ArrayPool<StrategySlot>.Shared.Rent(pipeline.Strategies.Length - SlotBuffer.Length);
        }

        return Resume(ref run, Step(ref run), out continuation);
    }

    /// <summary>Exits the strategies outside the one at <paramref name="rejectedAt"/>, which refused the call.</summary>
    private static Outcome<TResult> RejectFast<TResult, TState, TCallback, TSlots>(
        ref CallFrame frame, ref TSlots slots, TCallback callback, TState state, int rejectedAt, long packedRejection, out Task<Outcome<TResult>>? continuation)
        where TCallback : struct, ICallback<TState, TResult>
        where TSlots : struct
    {
        var pipeline = frame.Pipeline;
        var rejection = new Rejection(pipeline.RejectionSources[rejectedAt], packedRejection);
        pipeline.Telemetry?.OnRejected(in rejection);
        var judged = new ExitOutcome(in rejection);
        frame.NewPass();
        for (var index = rejectedAt - 1; index >= 0; index--)
        {
            ref var slot = ref SlotAt(ref slots, index);
            var context = new StrategyContext(ref frame, ref slot);
            ExitAction action;
            try
            {
                action = pipeline.Strategies[index].Exit(ref context, in judged);
            }
            catch (Exception thrown)
            {
                return ResumeAtFailedExit<TResult, TState, TCallback, TSlots>(ref frame, ref slots, callback, state, index, new Outcome<TResult>(in rejection), thrown, out continuation);
            }

            if (!action.IsContinue)
            {
                // The degraded steady state: an open circuit or a limiter's refusal that the outermost strategy, a
                // fallback, replaces. With no strategy left to exit, a fallback that serves at once ends the call here,
                // without handing it to the interpreter; the rejection had no result to dispose.
                if (index == 0 && action.Kind == ExitActionKind.Fallback && !pipeline.IsSingleAttempt)
                {
                    StartFallback(pipeline, 0, callback.IsSynchronous, new Outcome<TResult>(in rejection), state, slot.ReplacedToken ? slot.OuterToken : frame.Token, out var fallback);
                    if (!fallback.IsCompleted)
                    {
                        return ResumeAtPendingFallback<TResult, TState, TCallback, TSlots>(ref frame, ref slots, callback, state, in rejection, fallback, out continuation);
                    }

                    continuation = null;
                    if (pipeline.Telemetry is null)
                    {
                        // Read straight into the caller's variable: a local the telemetry reads by reference would be
                        // copied out, just stored, which stalls.
                        return ReadFallback(in fallback);
                    }

                    var served = ReadFallback(in fallback);
                    pipeline.Telemetry.OnFallback(pipeline.Strategies[0], in served);
                    return served;
                }

                return ResumeAtExit<TResult, TState, TCallback, TSlots>(ref frame, ref slots, callback, state, index, new Outcome<TResult>(in rejection), action, out continuation);
            }

            if (slot.ReplacedToken)
            {
                frame.Token = slot.OuterToken;
            }
        }

        continuation = null;
        return new Outcome<TResult>(in rejection);
    }

    // The hand-overs below are kept out of RunInline so that its frame holds no run: a run is large, and every
    // local of a method is zeroed on entry, taken or not.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Outcome<TResult> ResumeAtEntry<TResult, TState, TCallback, TSlots>(
        ref CallFrame frame, ref TSlots slots, TCallback callback, TState state, int index, Entry entry, out Task<Outcome<TResult>>? continuation)
        where TCallback : struct, ICallback<TState, TResult>
        where TSlots : struct
    {
        var run = Handover<TResult, TState, TCallback, TSlots>(ref frame, ref slots, callback, state, index);
        if (entry.Kind == EntryKind.Pending)
        {
            frame.Pipeline.Telemetry?.OnWaiting(frame.Pipeline.Strategies[index], in entry);
        }

        return Resume(ref run, Enter(ref run, in entry), out continuation);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Outcome<TResult> ResumeAtCallback<TResult, TState, TCallback, TSlots>(
        ref CallFrame frame, ref TSlots slots, TCallback callback, TState state, ValueTask<TResult> call, out Task<Outcome<TResult>>? continuation)
        where TCallback : struct, ICallback<TState, TResult>
        where TSlots : struct
    {
        var run = Handover<TResult, TState, TCallback, TSlots>(ref frame, ref slots, callback, state, frame.Pipeline.Strategies.Length);
        run.Phase = RunPhase.Invoke;
        run.PendingCallback = call;
        return Resume(ref run, PendingWork.Callback, out continuation);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Outcome<TResult> ResumeAtExit<TResult, TState, TCallback, TSlots>(
        ref CallFrame frame, ref TSlots slots, TCallback callback, TState state, int index, Outcome<TResult> outcome, ExitAction action, out Task<Outcome<TResult>>? continuation)
        where TCallback : struct, ICallback<TState, TResult>
        where TSlots : struct
    {
        var run = Handover<TResult, TState, TCallback, TSlots>(ref frame, ref slots, callback, state, index);
        run.Outcome = outcome;
        run.Phase = RunPhase.Exit;
        return Resume(ref run, Act(ref run, in action), out continuation);
    }

    /// <summary>The outermost strategy's fallback of a rejection is under way (see <see cref="RejectFast"/>): the interpreter waits for it.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Outcome<TResult> ResumeAtPendingFallback<TResult, TState, TCallback, TSlots>(
        ref CallFrame frame, ref TSlots slots, TCallback callback, TState state, in Rejection rejection, ValueTask<Outcome<TResult>> fallback, out Task<Outcome<TResult>>? continuation)
        where TCallback : struct, ICallback<TState, TResult>
        where TSlots : struct
    {
        var run = Handover<TResult, TState, TCallback, TSlots>(ref frame, ref slots, callback, state, 0);
        run.Outcome = new Outcome<TResult>(in rejection);
        run.Phase = RunPhase.Exit;
        run.PendingFallback = fallback;
        return Resume(ref run, PendingWork.Fallback, out continuation);
    }

    /// <summary>The callback threw on the fast path, or its task could not be read: <paramref name="thrown"/> is the attempt's outcome, and every strategy exits.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Outcome<TResult> ResumeAtFailedCallback<TResult, TState, TCallback, TSlots>(
        ref CallFrame frame, ref TSlots slots, TCallback callback, TState state, Exception thrown, out Task<Outcome<TResult>>? continuation)
        where TCallback : struct, ICallback<TState, TResult>
        where TSlots : struct
    {
        var run = Handover<TResult, TState, TCallback, TSlots>(ref frame, ref slots, callback, state, frame.Pipeline.Strategies.Length);
        run.Outcome = new Outcome<TResult>(thrown);
        BeginExit(ref run, run.Frame.Pipeline.Strategies.Length - 1);
        return Resume(ref run, Step(ref run), out continuation);
    }

    /// <summary>
    /// The strategy at <paramref name="index"/> threw from <see cref="ResilienceStrategy.Enter"/> (the caller restored the
    /// token it was entered with): it did not admit the call, and the strategies outside it see the exception.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Outcome<TResult> ResumeAtFailedEntry<TResult, TState, TCallback, TSlots>(
        ref CallFrame frame, ref TSlots slots, TCallback callback, TState state, int index, Exception thrown, out Task<Outcome<TResult>>? continuation)
        where TCallback : struct, ICallback<TState, TResult>
        where TSlots : struct
    {
        var run = Handover<TResult, TState, TCallback, TSlots>(ref frame, ref slots, callback, state, index);
        RefuseEntry(ref run, new Outcome<TResult>(thrown));
        return Resume(ref run, Step(ref run), out continuation);
    }

    /// <summary>
    /// The strategy at <paramref name="index"/> threw from its exit: it has exited, and the
    /// exception replaces the outcome, as <see cref="ExitAction.Fail"/> would.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Outcome<TResult> ResumeAtFailedExit<TResult, TState, TCallback, TSlots>(
        ref CallFrame frame, ref TSlots slots, TCallback callback, TState state, int index, in Outcome<TResult> replaced, Exception thrown, out Task<Outcome<TResult>>? continuation)
        where TCallback : struct, ICallback<TState, TResult>
        where TSlots : struct
    {
        var run = Handover<TResult, TState, TCallback, TSlots>(ref frame, ref slots, callback, state, index);
        run.Phase = RunPhase.Exit;

        // Failing replaces (and disposes) the outcome the strategy was exiting with.
        run.Outcome = replaced;
        return Resume(ref run, Act(ref run, ExitAction.Fail(thrown)), out continuation);
    }

    /// <summary>The predicate of the strategy at <paramref name="index"/> (or its look at the result) threw while judging the outcome.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Outcome<TResult> ResumeAtFailedJudgement<TResult, TState, TCallback, TSlots>(
        ref CallFrame frame, ref TSlots slots, TCallback callback, TState state, int index, in Outcome<TResult> judging, Exception thrown, out Task<Outcome<TResult>>? continuation)
        where TCallback : struct, ICallback<TState, TResult>
        where TSlots : struct
    {
        var run = Handover<TResult, TState, TCallback, TSlots>(ref frame, ref slots, callback, state, index);
        run.Phase = RunPhase.Exit;
        run.Outcome = judging;
        var judged = FailJudgement(ref run, thrown);
        return Resume(ref run, Act(ref run, ExitAt(ref run, in judged)), out continuation);
    }

    /// <summary>The slot at <paramref name="index"/> of an inline buffer; the caller keeps the index inside it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref StrategySlot SlotAt<TSlots>(ref TSlots slots, int index)
        where TSlots : struct =>
        ref Unsafe.Add(ref Unsafe.As<TSlots, StrategySlot>(ref slots), index);

    /// <summary>Moves a call from the fast path's locals into a run the general interpreter can carry across awaits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static PipelineRun<TResult, TState, TCallback> Handover<TResult, TState, TCallback, TSlots>(
        ref CallFrame frame, ref TSlots slots, TCallback callback, TState state, int index)
        where TCallback : struct, ICallback<TState, TResult>
        where TSlots : struct
    {
        var run = default(PipelineRun<TResult, TState, TCallback>);
        run.Frame = frame;
        Unsafe.As<SlotBuffer, TSlots>(ref run.Slots) = slots;
        run.Callback = callback;
        run.State = state;
        run.Index = index;
        return run;
    }

    /// <summary>Completes the call now if nothing is pending, or continues it asynchronously.</summary>
    private static Outcome<TResult> Resume<TResult, TState, TCallback>(
        ref PipelineRun<TResult, TState, TCallback> run, PendingWork pending, out Task<Outcome<TResult>>? continuation)
        where TCallback : struct, ICallback<TState, TResult>
    {
        if (pending == PendingWork.None)
        {
            ReturnSlots(ref run);
            continuation = null;
            return run.Outcome;
        }

        if (run.Callback.IsSynchronous)
        {
            // A synchronous form waits on its caller's thread, and every later attempt runs there too: a callback that
            // takes a lock its caller holds, or reads state bound to the thread, behaves as it would without a pipeline.
            continuation = null;
            return RunBlocking(ref run, pending);
        }

        continuation = ContinueAsync(run, pending);
        return default;
    }

    /// <summary>The synchronous form of <see cref="ContinueAsync"/>: blocks while the call waits, and steps it on this thread.</summary>
    private static Outcome<TResult> RunBlocking<TResult, TState, TCallback>(ref PipelineRun<TResult, TState, TCallback> run, PendingWork pending)
        where TCallback : struct, ICallback<TState, TResult>
    {
        do
        {
            switch (pending)
            {
                case PendingWork.Entry:
                    var entryTask = run.PendingEntry!;
                    run.PendingEntry = null;
                    WaitFor(entryTask);
                    TakeEntry(ref run, entryTask);
                    break;

                case PendingWork.Callback:
                    var callbackTask = run.PendingCallback.AsTask();
                    run.PendingCallback = default;
                    WaitFor(callbackTask);
                    run.Outcome = Complete(new ValueTask<TResult>(callbackTask));
                    BeginExit(ref run, run.Frame.Pipeline.Strategies.Length - 1);
                    break;

                case PendingWork.Delay:
                    var delayTask = run.PendingDelay!;
                    run.PendingDelay = null;
                    WaitFor(delayTask);
                    TakeDelay(ref run, delayTask);
                    break;

                case PendingWork.Fallback:
                    var fallbackTask = run.PendingFallback.AsTask();
                    run.PendingFallback = default;
                    var replaced = run.Outcome.Result;
                    WaitFor(fallbackTask);
                    try
                    {
                        run.Outcome = fallbackTask.GetAwaiter().GetResult();
                    }
                    catch (Exception exception)
                    {
                        run.Outcome = new Outcome<TResult>(exception);
                    }

                    TakeFallback(ref run, replaced);
                    break;
            }

            pending = Step(ref run);
        }
        while (pending != PendingWork.None);

        ReturnSlots(ref run);
        return run.Outcome;

        static void WaitFor(Task task) => task.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing).GetAwaiter().GetResult();
    }

    private static async Task<Outcome<TResult>> ContinueAsync<TResult, TState, TCallback>(
        PipelineRun<TResult, TState, TCallback> run, PendingWork pending)
        where TCallback : struct, ICallback<TState, TResult>
    {
        do
        {
            switch (pending)
            {
                case PendingWork.Entry:
                    var entryTask = run.PendingEntry!;
                    run.PendingEntry = null;
                    await ((Task)entryTask).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    TakeEntry(ref run, entryTask);
                    break;

                case PendingWork.Callback:
                    var callbackTask = run.PendingCallback;
                    run.PendingCallback = default;
                    try
                    {
                        run.Outcome = new Outcome<TResult>(await callbackTask.ConfigureAwait(false));
                    }
                    catch (Exception exception)
                    {
                        run.Outcome = new Outcome<TResult>(exception);
                    }

                    BeginExit(ref run, run.Frame.Pipeline.Strategies.Length - 1);
                    break;

                case PendingWork.Delay:
                    var delayTask = run.PendingDelay!;
                    run.PendingDelay = null;
                    await delayTask.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    TakeDelay(ref run, delayTask);
                    break;

                case PendingWork.Fallback:
                    var fallbackTask = run.PendingFallback;
                    run.PendingFallback = default;
                    var replaced = run.Outcome.Result;
                    try
                    {
                        run.Outcome = await fallbackTask.ConfigureAwait(false);
                    }
                    catch (Exception exception)
                    {
                        run.Outcome = new Outcome<TResult>(exception);
                    }

                    TakeFallback(ref run, replaced);
                    break;
            }

            pending = Step(ref run);
        }
        while (pending != PendingWork.None);

        ReturnSlots(ref run);
        return run.Outcome;
    }

    /// <summary>Takes the awaited admission of the strategy at Index, now completed.</summary>
    private static void TakeEntry<TResult, TState, TCallback>(ref PipelineRun<TResult, TState, TCallback> run, Task<Entry> admission)
        where TCallback : struct, ICallback<TState, TResult>
    {
        Entry entry;
        if (admission.IsFaulted)
        {
            // Read, not rethrown: a faulted task's exception is there to take.
            RefuseEntry(ref run, new Outcome<TResult>(TaskFailure.Of(admission)));
            return;
        }

        try
        {
            entry = admission.GetAwaiter().GetResult();
        }
        catch (Exception exception)
        {
            RefuseEntry(ref run, new Outcome<TResult>(exception));
            return;
        }

        if (entry.Failure is { } failure)
        {
            // One of our waits (a limiter's queue) cut short: its exception, read without rethrowing, is the outcome.
            RefuseEntry(ref run, new Outcome<TResult>(failure));
            return;
        }

        // Time has passed: strategies entered after the wait read the clocks afresh.
        run.Frame.NewPass();
        ApplyEntry(ref run, in entry);
        if (entry.Kind == EntryKind.Admitted && run.Frame.CallerToken.IsCancellationRequested)
        {
            // The caller cancelled while the call waited (a wait on another token, or one served as the caller
            // cancelled): the strategy that admitted the call exits.
            StopForCaller(ref run, run.Index - 1);
        }
    }

    /// <summary>
    /// The caller has cancelled: no further attempt starts, and the strategy at <paramref name="index"/> and those outside
    /// it exit on the caller's cancellation.
    /// </summary>
    private static void StopForCaller<TResult, TState, TCallback>(ref PipelineRun<TResult, TState, TCallback> run, int index)
        where TCallback : struct, ICallback<TState, TResult>
    {
        run.Outcome = new Outcome<TResult>(new OperationCanceledException(run.Frame.CallerToken));
        BeginExit(ref run, index);
    }

    /// <summary>Takes a retry's delay, now over: a cancelled wait is the outcome the retrying strategy (just outside Index) sees.</summary>
    private static void TakeDelay<TResult, TState, TCallback>(ref PipelineRun<TResult, TState, TCallback> run, Task delay)
        where TCallback : struct, ICallback<TState, TResult>
    {
        if (!delay.IsCompletedSuccessfully)
        {
            // Read, not rethrown: a wait cut short (the caller, an outer timeout) then costs no thrown exception.
            run.Outcome = new Outcome<TResult>(TaskFailure.Of(delay));
            BeginExit(ref run, run.Index - 1);
            return;
        }

        if (run.Frame.CallerToken.IsCancellationRequested)
        {
            // A wait that ran out as the caller cancelled (or on a token the caller's does not reach) starts no attempt.
            StopForCaller(ref run, run.Index - 1);
            return;
        }

        run.Frame.Pipeline.Telemetry?.OnRetryAttempt(run.Frame.Pipeline.Strategies[run.Index - 1]);
    }

    /// <summary>
    /// Takes the outcome a fallback produced (already in the run) in place of <paramref name="replaced"/>: the strategy at
    /// Index is left.
    /// </summary>
    private static void TakeFallback<TResult, TState, TCallback>(ref PipelineRun<TResult, TState, TCallback> run, TResult? replaced)
        where TCallback : struct, ICallback<TState, TResult>
    {
        DisposeReplaced(replaced, in run.Outcome);
        run.Served = true;

        // Time has passed: strategies exited after the fallback read the clocks afresh.
        run.Frame.NewPass();
        run.Frame.Pipeline.Telemetry?.OnFallback(run.Frame.Pipeline.Strategies[run.Index], in run.Outcome);
        LeaveStrategy(ref run);
    }

    /// <summary>Advances the call until it completes (returns <see cref="PendingWork.None"/>) or must wait.</summary>
    private static PendingWork Step<TResult, TState, TCallback>(ref PipelineRun<TResult, TState, TCallback> run)
        where TCallback : struct, ICallback<TState, TResult>
    {
        var strategies = run.Frame.Pipeline.Strategies;
        while (true)
        {
            switch (run.Phase)
            {
                case RunPhase.Enter:
                    if (run.Index == strategies.Length)
                    {
                        run.Phase = RunPhase.Invoke;
                        break;
                    }

                    ref var slot = ref Slot(ref run, run.Index);
                    slot.State = 0;
                    slot.StateObject = null;
                    slot.OuterToken = run.Frame.Token;
                    slot.ReplacedToken = true;
                    var context = new StrategyContext(ref run.Frame, ref slot);
                    Entry entry;
                    try
                    {
                        entry = strategies[run.Index].Enter(ref context);
                    }
                    catch (Exception exception)
                    {
                        // A strategy that throws did not admit the call: the ones outside it see the exception.
                        RefuseEntry(ref run, new Outcome<TResult>(exception));
                        break;
                    }

                    if (entry.Kind == EntryKind.Pending)
                    {
                        run.Frame.Pipeline.Telemetry?.OnWaiting(strategies[run.Index], in entry);
                        run.PendingEntry = entry.PendingEntry;
                        return PendingWork.Entry;
                    }

                    ApplyEntry(ref run, in entry);
                    break;

                case RunPhase.Invoke:
                    ValueTask<TResult> call;
                    bool completed;
                    try
                    {
                        call = run.Callback.Invoke(run.State, run.Frame.Token);

                        // A task that cannot be read (a pooled source read after it was reused) is the callback failing.
                        completed = call.IsCompleted;
                    }
                    catch (Exception exception)
                    {
                        call = ValueTask.FromException<TResult>(exception);
                        completed = true;
                    }

                    if (!completed)
                    {
                        run.PendingCallback = call;
                        return PendingWork.Callback;
                    }

                    run.Outcome = Complete(call);
                    BeginExit(ref run, strategies.Length - 1);
                    break;

                default:
                    if (run.Index < 0)
                    {
                        return PendingWork.None;
                    }

                    ExitOutcome judged;
                    if (run.Outcome.IsRejected)
                    {
                        judged = new ExitOutcome(run.Outcome.Rejection);
                    }
                    else
                    {
                        try
                        {
                            judged = Judge(run.Frame.Pipeline, run.Index, run.Outcome.Result, run.Outcome.RawException, run.Frame.CallerToken);
                        }
                        catch (Exception exception)
                        {
                            judged = FailJudgement(ref run, exception);
                        }
                    }

                    var pending = Apply(ref run, ExitAt(ref run, in judged));
                    if (pending != PendingWork.None)
                    {
                        return pending;
                    }

                    break;
            }
        }
    }

    /// <summary>Runs the exit of the strategy at Index (and its look at a successful result) on <paramref name="judged"/>.</summary>
    private static ExitAction ExitAt<TResult, TState, TCallback>(ref PipelineRun<TResult, TState, TCallback> run, in ExitOutcome judged)
        where TCallback : struct, ICallback<TState, TResult>
    {
        var exiting = run.Frame.Pipeline.Strategies[run.Index];
        var seen = judged;

        // A result an inner fallback served (the built-in one's or a strategy's of one's own: every fallback is taken
        // here) is not what the call produced: a last known good value must not become the placeholder that replaced it.
        // (The fast path never carries one: fallbacks run on this path.)
        if (exiting.ObservesResults && judged.IsSuccess && !run.Served)
        {
            try
            {
                exiting.ObserveResult(run.Outcome.Result, run.State);
            }
            catch (Exception exception)
            {
                // As a throwing predicate: the exception replaces the outcome, and the strategy still exits, on it.
                seen = FailJudgement(ref run, exception);
            }
        }

        try
        {
            var context = new StrategyContext(ref run.Frame, ref Slot(ref run, run.Index));
            return exiting.Exit(ref context, in seen);
        }
        catch (Exception exception)
        {
            // A strategy that throws has exited all the same: its exception replaces the outcome.
            return ExitAction.Fail(exception);
        }
    }

    /// <summary>
    /// The predicate (or retry-after reader, or look at the result) of the strategy at Index threw: its exception replaces
    /// the outcome, and the strategy exits on it unjudged, not handled (judging it again could throw again).
    /// </summary>
    private static ExitOutcome FailJudgement<TResult, TState, TCallback>(ref PipelineRun<TResult, TState, TCallback> run, Exception exception)
        where TCallback : struct, ICallback<TState, TResult>
    {
        // The result being judged never reaches the caller.
        DisposeDiscarded(run.Outcome.Result);
        run.Outcome = new Outcome<TResult>(exception);
        return new ExitOutcome(exception, isHandled: false, isCallerCancelled: false);
    }

    /// <summary>Takes the entry the strategy at Index just returned, then steps on.</summary>
    private static PendingWork Enter<TResult, TState, TCallback>(ref PipelineRun<TResult, TState, TCallback> run, in Entry entry)
        where TCallback : struct, ICallback<TState, TResult>
    {
        if (entry.Kind == EntryKind.Pending)
        {
            run.PendingEntry = entry.PendingEntry;
            return PendingWork.Entry;
        }

        ApplyEntry(ref run, in entry);
        return Step(ref run);
    }

    /// <summary>Takes the exit action the strategy at Index just returned, then steps on.</summary>
    private static PendingWork Act<TResult, TState, TCallback>(ref PipelineRun<TResult, TState, TCallback> run, in ExitAction action)
        where TCallback : struct, ICallback<TState, TResult>
    {
        var pending = Apply(ref run, in action);
        return pending != PendingWork.None ? pending : Step(ref run);
    }

    private static PendingWork Apply<TResult, TState, TCallback>(ref PipelineRun<TResult, TState, TCallback> run, in ExitAction action)
        where TCallback : struct, ICallback<TState, TResult>
    {
        switch (action.Kind)
        {
            case ExitActionKind.Fail:
                // The result this exception replaces never reaches the caller (a breaker's handler may fail a success).
                DisposeDiscarded(run.Outcome.Result);
                run.Outcome = new Outcome<TResult>(action.Exception!);
                run.Frame.Pipeline.Telemetry?.OnFailed(run.Frame.Pipeline.Strategies[run.Index], action.Exception!);
                break;

            case ExitActionKind.Retry when run.Frame.Pipeline.RefusesRetries:
            case ExitActionKind.Fallback when run.Frame.Pipeline.IsSingleAttempt:
                // A call that must not be repeated (or is one attempt, a stream, which cannot be replaced either): its
                // outcome passes on.
                break;

            case ExitActionKind.Retry:
                DisposeDiscarded(run.Outcome.Result);

                // The token in force is the one this strategy passed inward: inner exits restored it.
                var retrying = run.Frame.Pipeline.Strategies[run.Index];
                run.Frame.Pipeline.Telemetry?.OnRetryScheduled(retrying, action.Delay);
                if (run.Frame.CallerToken.IsCancellationRequested)
                {
                    // A strategy of one's own may ask for a retry once the caller has cancelled: it exits again instead.
                    StopForCaller(ref run, run.Index);
                    return PendingWork.None;
                }

                run.Index++;
                run.Phase = RunPhase.Enter;
                run.Frame.NewPass();
                if (action.Delay > TimeSpan.Zero)
                {
                    // Counted as an attempt once the wait is over (TakeDelay): a cancelled wait starts none. Task.Delay
                    // drops a fraction of a millisecond (a 1.5 ms delay waited 1 ms, one of 0.5 ms none): rounded up
                    // instead, the wait is never shorter than the delay (ExitAction.Retry caps it at whole milliseconds).
                    var wait = (action.Delay.Ticks + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond;
                    run.PendingDelay = Task.Delay(TimeSpan.FromMilliseconds(wait), run.Frame.Pipeline.TimeProvider, run.Frame.Token);
                    return PendingWork.Delay;
                }

                run.Frame.Pipeline.Telemetry?.OnRetryAttempt(retrying);
                return PendingWork.None;

            case ExitActionKind.Fallback:
                StartFallback(run.Frame.Pipeline, run.Index, run.Callback.IsSynchronous, run.Outcome, run.State, OuterToken(ref run), out var fallback);
                if (!fallback.IsCompleted)
                {
                    run.PendingFallback = fallback;
                    return PendingWork.Fallback;
                }

                var replaced = run.Outcome.Result;
                run.Outcome = ReadFallback(in fallback);
                DisposeReplaced(replaced, in run.Outcome);
                run.Served = true;

                // A fallback that completed without waiting may still have taken time (blocking work): strategies exited
                // after it read the clocks afresh, as after one that waited (TakeFallback).
                run.Frame.NewPass();
                run.Frame.Pipeline.Telemetry?.OnFallback(run.Frame.Pipeline.Strategies[run.Index], in run.Outcome);
                break;
        }

        LeaveStrategy(ref run);
        return PendingWork.None;
    }

    /// <summary>
    /// Starts the fallback of the strategy at <paramref name="index"/> into <paramref name="fallback"/>; a strategy that
    /// throws as it starts is the fallback failing. The task may be complete already (read it with
    /// <see cref="ReadFallback"/>) or pending.
    /// </summary>
    /// <remarks>
    /// The task is written where the caller keeps it and read in place: returned by value, it was copied out of the
    /// protected region, and a copy of a struct its callee has just stored field by field stalls (about 10 ns a served
    /// call on a Zen 4 host).
    /// </remarks>
    private static void StartFallback<TResult, TState>(
        PipelineCore pipeline, int index, bool synchronous, Outcome<TResult> outcome, TState state, CancellationToken outerToken, out ValueTask<Outcome<TResult>> fallback)
    {
        try
        {
            var strategy = pipeline.Strategies[index];
            if (synchronous)
            {
                fallback = ProvideFallbackForBlockedCaller(strategy, outcome, state, pipeline.Name, outerToken);
            }
            else
            {
                fallback = strategy.ProvideFallbackAsync(outcome, state, pipeline.Name, outerToken);
            }

            // A task that cannot be read (a pooled source read after it was reused) is the fallback failing.
            _ = fallback.IsCompleted;
        }
        catch (Exception exception)
        {
            fallback = ValueTask.FromException<Outcome<TResult>>(exception);
        }
    }

    /// <summary>The outcome of a fallback that completed: what it served, or the exception it failed with.</summary>
    private static Outcome<TResult> ReadFallback<TResult>(in ValueTask<Outcome<TResult>> fallback)
    {
        try
        {
            // Read in place (an awaiter would copy the task).
            return fallback.Result;
        }
        catch (Exception exception)
        {
            return new Outcome<TResult>(exception);
        }
    }

    /// <summary>
    /// Starts the fallback of a synchronous call, which blocks its thread while the fallback waits: a continuation the
    /// fallback's own awaits would send back to the caller's synchronization context (a UI thread) or task scheduler would
    /// never run, and the call would never end. The fallback starts on this thread without either, so its awaits resume
    /// on the thread pool.
    /// </summary>
    private static ValueTask<Outcome<TResult>> ProvideFallbackForBlockedCaller<TResult, TState>(
        ResilienceStrategy strategy, Outcome<TResult> outcome, TState state, string? pipelineName, CancellationToken cancellationToken)
    {
        var context = SynchronizationContext.Current;
        if (context is null && TaskScheduler.Current == TaskScheduler.Default)
        {
            return strategy.ProvideFallbackAsync(outcome, state, pipelineName, cancellationToken);
        }

        SynchronizationContext.SetSynchronizationContext(null);
        try
        {
            if (TaskScheduler.Current == TaskScheduler.Default)
            {
                return strategy.ProvideFallbackAsync(outcome, state, pipelineName, cancellationToken);
            }

            return OnDefaultScheduler(strategy, outcome, state, pipelineName, cancellationToken);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(context);
        }

        // Apart, so that the closure's captures are allocated on this path only: a lambda over the parameters of the
        // method above would have them allocated on its entry, on every synchronous call a fallback serves.
        static ValueTask<Outcome<TResult>> OnDefaultScheduler(
            ResilienceStrategy strategy, Outcome<TResult> outcome, TState state, string? pipelineName, CancellationToken cancellationToken)
        {
            // The current scheduler is the one of the task running this code: only a task run on the default scheduler
            // (inline here, as the thread pool's scheduler runs a task started synchronously) sees the default one.
            var start = new Task<ValueTask<Outcome<TResult>>>(() => strategy.ProvideFallbackAsync(outcome, state, pipelineName, cancellationToken));
            start.RunSynchronously(TaskScheduler.Default);
            return start.GetAwaiter().GetResult();
        }
    }

    /// <summary>Disposes the result a fallback replaced, unless the fallback served that same object.</summary>
    private static void DisposeReplaced<TResult>(TResult? replaced, in Outcome<TResult> served)
    {
        if (!typeof(TResult).IsValueType && !ReferenceEquals(replaced, served.Result))
        {
            DisposeDiscarded(replaced);
        }
    }

    /// <summary>
    /// Disposes a result that never reaches the caller: one a retry discards (an HTTP response left open through the
    /// retry's delay holds its connection), or one an exit replaced by a failure. A failure of that disposal is not the
    /// outcome of the call, which goes on.
    /// </summary>
    private static void DisposeDiscarded<TResult>(TResult? result)
    {
        if (typeof(TResult).IsValueType || result is not IDisposable disposable)
        {
            return;
        }

        try
        {
            disposable.Dispose();
        }
        catch (Exception)
        {
            // Deliberately ignored: see above.
        }
    }

    private static void ApplyEntry<TResult, TState, TCallback>(ref PipelineRun<TResult, TState, TCallback> run, in Entry entry)
        where TCallback : struct, ICallback<TState, TResult>
    {
        switch (entry.Kind)
        {
            case EntryKind.Admitted:
                if (entry.StateObject is { } stateObject)
                {
                    Slot(ref run, run.Index).StateObject = stateObject;
                }

                run.Index++;
                break;

            case EntryKind.Rejected:
                var rejection = new Rejection(run.Frame.Pipeline.RejectionSources[run.Index], entry.PackedRejection);
                run.Frame.Pipeline.Telemetry?.OnRejected(in rejection);
                RefuseEntry(ref run, new Outcome<TResult>(in rejection));
                break;

            default:
                RefuseEntry(ref run, new Outcome<TResult>(new InvalidOperationException(
                    $"Strategy '{run.Frame.Pipeline.Strategies[run.Index].Name}' completed a pending entry with another pending entry.")));
                break;
        }
    }

    /// <summary>The strategy at Index did not admit the call: the strategies outside it see <paramref name="outcome"/>.</summary>
    private static void RefuseEntry<TResult, TState, TCallback>(ref PipelineRun<TResult, TState, TCallback> run, Outcome<TResult> outcome)
        where TCallback : struct, ICallback<TState, TResult>
    {
        run.Frame.Token = OuterToken(ref run);
        run.Outcome = outcome;
        BeginExit(ref run, run.Index - 1);
    }

    private static void BeginExit<TResult, TState, TCallback>(ref PipelineRun<TResult, TState, TCallback> run, int index)
        where TCallback : struct, ICallback<TState, TResult>
    {
        run.Phase = RunPhase.Exit;
        run.Index = index;
        run.Frame.NewPass();

        // A new outcome (an attempt's, a refusal's) starts on its way out.
        run.Served = false;
    }

    private static void LeaveStrategy<TResult, TState, TCallback>(ref PipelineRun<TResult, TState, TCallback> run)
        where TCallback : struct, ICallback<TState, TResult>
    {
        run.Frame.Token = OuterToken(ref run);
        run.Index--;
    }

    /// <summary>The token in force outside the strategy at Index (inner strategies have restored theirs by now).</summary>
    private static CancellationToken OuterToken<TResult, TState, TCallback>(ref PipelineRun<TResult, TState, TCallback> run)
        where TCallback : struct, ICallback<TState, TResult>
    {
        ref var slot = ref Slot(ref run, run.Index);
        return slot.ReplacedToken ? slot.OuterToken : run.Frame.Token;
    }

    private static Outcome<TResult> Complete<TResult>(ValueTask<TResult> call)
    {
        Exception? exception;
        TResult? result;
        try
        {
            exception = Unwrap(call, out result);
        }
        catch (Exception unreadable)
        {
            // A completed task whose source throws when asked for its status is the callback failing.
            return new Outcome<TResult>(unreadable);
        }

        return exception is null ? new Outcome<TResult>(result!) : new Outcome<TResult>(exception);
    }

    /// <summary>
    /// Takes the result or the failure of a completed task. A faulted task's exception is read, not rethrown: a throw
    /// and catch costs microseconds, the read nothing.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Exception? Unwrap<TResult>(ValueTask<TResult> call, out TResult? result)
    {
        if (call.IsCompletedSuccessfully)
        {
            result = call.Result;
            return null;
        }

        result = default;
        if (call.IsFaulted && call.AsTask().Exception is { InnerExceptions: [var single] })
        {
            return single;
        }

        try
        {
            result = call.GetAwaiter().GetResult();
            return null;
        }
        catch (Exception exception)
        {
            return exception;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ExitOutcome JudgeOutOfLine<TResult>(PipelineCore pipeline, int index, TResult? result, Exception? exception, CancellationToken callerToken) =>
        Judge(pipeline, index, result, exception, callerToken);

    /// <summary>
    /// Whether a call's end passes the strategy at <paramref name="index"/> with nothing to judge: a result, and no
    /// predicate of that strategy. A pipeline where no strategy has one (the common case) answers on one read of a flag,
    /// not of its predicates' array.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool PassesUnjudged(PipelineCore pipeline, int index, Exception? exception) =>
        exception is null && (!pipeline.HasPredicates || pipeline.Predicates[index] is null);

    /// <summary>Judges a result or exception for the strategy at <paramref name="index"/> with that strategy's predicate.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ExitOutcome Judge<TResult>(PipelineCore pipeline, int index, TResult? result, Exception? exception, CancellationToken callerToken)
    {
        if (PassesUnjudged(pipeline, index, exception))
        {
            return default;
        }

        var predicate = pipeline.Predicates[index];
        if (exception is OperationCanceledException && callerToken.IsCancellationRequested)
        {
            return new ExitOutcome(exception, isHandled: false, isCallerCancelled: true);
        }

        bool handled;
        if (predicate is null)
        {
            handled = exception is not null;
        }
        else if (pipeline.TypedPredicates)
        {
            // Typed pipelines only execute calls of their own result type, so the predicate's type matches.
            handled = Unsafe.As<Func<Outcome<TResult>, bool>>(predicate)(ToOutcome(result, exception));
        }
        else
        {
            handled = exception is not null && Unsafe.As<Func<Exception, bool>>(predicate)(exception);
        }

        // No hint for the telemetry strategy, which judges only to count and never waits: reading one there could
        // only add a failure of the reader's own to a call that had none.
        return handled && pipeline.RetryAfterHint is { } hint && !ReferenceEquals(pipeline.Strategies[index], pipeline.Telemetry)
            ? new ExitOutcome(exception, handled, isCallerCancelled: false, ReadHint(pipeline, hint, result, exception))
            : new ExitOutcome(exception, handled, isCallerCancelled: false);
    }

    /// <summary>Reads the retry-after hint of a handled failure with the pipeline's reader (failure paths only).</summary>
    private static TimeSpan? ReadHint<TResult>(PipelineCore pipeline, Delegate hint, TResult? result, Exception? exception)
    {
        if (pipeline.TypedPredicates)
        {
            return Unsafe.As<Func<Outcome<TResult>, TimeSpan?>>(hint)(ToOutcome(result, exception));
        }

        return exception is null ? null : Unsafe.As<Func<Exception, TimeSpan?>>(hint)(exception);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref StrategySlot Slot<TResult, TState, TCallback>(ref PipelineRun<TResult, TState, TCallback> run, int index)
        where TCallback : struct, ICallback<TState, TResult>
    {
        if (index < SlotBuffer.Length)
        {
            return ref run.Slots[index];
        }

        return ref run.OverflowSlots![index - SlotBuffer.Length];
    }

    private static void ReturnSlots<TResult, TState, TCallback>(ref PipelineRun<TResult, TState, TCallback> run)
        where TCallback : struct, ICallback<TState, TResult>
    {
        if (run.OverflowSlots is { } overflow)
        {
            run.OverflowSlots = null;
            ArrayPool<StrategySlot>.Shared.Return(overflow, clearArray: true);
        }
    }
}
