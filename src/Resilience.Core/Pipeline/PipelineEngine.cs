using System.Buffers;
using System.Runtime.CompilerServices;

namespace Resilience;

/// <summary>
/// Executes calls through a pipeline: one interpreter (<see cref="Step"/>) that advances a call as far as it can
/// without waiting, and one async loop that awaits whatever the call is waiting for and steps again.
/// A call that never waits costs no async state machine at all.
/// </summary>
internal static class PipelineEngine
{
    public static ValueTask<Outcome<TResult>> RunAsync<TResult, TState, TCallback>(
        PipelineCore pipeline, TCallback callback, TState state, CancellationToken cancellationToken)
        where TCallback : struct, ICallback<TState, TResult>
    {
        var run = default(PipelineRun<TResult, TState, TCallback>);
        run.Frame.Pipeline = pipeline;
        run.Frame.CallerToken = cancellationToken;
        run.Frame.Token = cancellationToken;
        run.Callback = callback;
        run.State = state;

        var count = pipeline.Strategies.Length;
        if (count > SlotBuffer.Length)
        {
            run.OverflowSlots = ArrayPool<StrategySlot>.Shared.Rent(count - SlotBuffer.Length);
        }

        var pending = Step(ref run);
        if (pending == PendingWork.None)
        {
            ReturnSlots(ref run);
            return new ValueTask<Outcome<TResult>>(run.Outcome);
        }

        return ContinueAsync(run, pending);
    }

    /// <summary>Runs a call to its end, blocking while it waits (the synchronous API).</summary>
    public static Outcome<TResult> Run<TResult, TState, TCallback>(
        PipelineCore pipeline, TCallback callback, TState state, CancellationToken cancellationToken)
        where TCallback : struct, ICallback<TState, TResult>
    {
        var task = RunAsync<TResult, TState, TCallback>(pipeline, callback, state, cancellationToken);
        return task.IsCompletedSuccessfully ? task.Result : task.AsTask().GetAwaiter().GetResult();
    }

    private static async ValueTask<Outcome<TResult>> ContinueAsync<TResult, TState, TCallback>(
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
                    Entry entry;
                    try
                    {
                        entry = await entryTask.ConfigureAwait(false);
                    }
                    catch (Exception exception)
                    {
                        RefuseEntry(ref run, new Outcome<TResult>(exception));
                        break;
                    }

                    ApplyEntry(ref run, in entry);
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
                    try
                    {
                        await delayTask.ConfigureAwait(false);
                    }
                    catch (Exception exception)
                    {
                        // The wait was cancelled: the retrying strategy (just outside Index) sees it as the outcome.
                        run.Outcome = new Outcome<TResult>(exception);
                        BeginExit(ref run, run.Index - 1);
                    }

                    break;

                case PendingWork.Fallback:
                    var fallbackTask = run.PendingFallback;
                    run.PendingFallback = default;
                    try
                    {
                        run.Outcome = await fallbackTask.ConfigureAwait(false);
                    }
                    catch (Exception exception)
                    {
                        run.Outcome = new Outcome<TResult>(exception);
                    }

                    LeaveStrategy(ref run);
                    break;
            }

            pending = Step(ref run);
        }
        while (pending != PendingWork.None);

        ReturnSlots(ref run);
        return run.Outcome;
    }

    /// <summary>Advances the call until it completes (returns <see cref="PendingWork.None"/>) or must wait.</summary>
    private static PendingWork Step<TResult, TState, TCallback>(ref PipelineRun<TResult, TState, TCallback> run)
        where TCallback : struct, ICallback<TState, TResult>
    {
        var strategies = run.Frame.Pipeline.Strategies;

    Restart:
        if (run.Phase == RunPhase.Enter)
        {
            while (run.Index < strategies.Length)
            {
                ref var slot = ref Slot(ref run, run.Index);
                slot.State = 0;
                slot.StateObject = null;
                slot.OuterToken = run.Frame.Token;

                var context = new StrategyContext(ref run.Frame, ref slot);
                var entry = strategies[run.Index].Enter(ref context);
                if (entry.Kind == EntryKind.Pending)
                {
                    run.PendingEntry = entry.PendingEntry;
                    return PendingWork.Entry;
                }

                ApplyEntry(ref run, in entry);
                if (run.Phase != RunPhase.Enter)
                {
                    goto Restart;
                }
            }

            run.Phase = RunPhase.Invoke;
        }

        if (run.Phase == RunPhase.Invoke)
        {
            ValueTask<TResult> call;
            try
            {
                call = run.Callback.Invoke(run.State, run.Frame.Token);
            }
            catch (Exception exception)
            {
                call = ValueTask.FromException<TResult>(exception);
            }

            if (!call.IsCompleted)
            {
                run.PendingCallback = call;
                return PendingWork.Callback;
            }

            try
            {
                run.Outcome = new Outcome<TResult>(call.GetAwaiter().GetResult());
            }
            catch (Exception exception)
            {
                run.Outcome = new Outcome<TResult>(exception);
            }

            BeginExit(ref run, strategies.Length - 1);
        }

        while (run.Index >= 0)
        {
            var strategy = strategies[run.Index];
            ref var slot = ref Slot(ref run, run.Index);
            var outcome = Judge(ref run, run.Index);
            var context = new StrategyContext(ref run.Frame, ref slot);
            var action = strategy.Exit(ref context, in outcome);

            switch (action.Kind)
            {
                case ExitActionKind.Fail:
                    run.Outcome = new Outcome<TResult>(action.Exception!);
                    break;

                case ExitActionKind.Retry:
                    // The token in force is the one this strategy passed inward: inner exits restored it.
                    run.Index++;
                    run.Phase = RunPhase.Enter;
                    run.Frame.Timestamp = 0;
                    if (action.Delay > TimeSpan.Zero)
                    {
                        run.PendingDelay = Task.Delay(action.Delay, run.Frame.Pipeline.TimeProvider, run.Frame.Token);
                        return PendingWork.Delay;
                    }

                    goto Restart;

                case ExitActionKind.Fallback:
                    ValueTask<Outcome<TResult>> fallback;
                    try
                    {
                        fallback = strategy.ProvideFallbackAsync(run.Outcome, run.State, slot.OuterToken);
                    }
                    catch (Exception exception)
                    {
                        fallback = ValueTask.FromException<Outcome<TResult>>(exception);
                    }

                    if (!fallback.IsCompleted)
                    {
                        run.PendingFallback = fallback;
                        return PendingWork.Fallback;
                    }

                    try
                    {
                        run.Outcome = fallback.GetAwaiter().GetResult();
                    }
                    catch (Exception exception)
                    {
                        run.Outcome = new Outcome<TResult>(exception);
                    }

                    break;
            }

            LeaveStrategy(ref run);
        }

        return PendingWork.None;
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
                var strategy = run.Frame.Pipeline.Strategies[run.Index];
                RefuseEntry(ref run, new Outcome<TResult>(new Rejection(strategy, entry.Reason, entry.RetryAfter, run.Frame.Pipeline.Name)));
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
        run.Frame.Token = Slot(ref run, run.Index).OuterToken;
        run.Outcome = outcome;
        BeginExit(ref run, run.Index - 1);
    }

    private static void BeginExit<TResult, TState, TCallback>(ref PipelineRun<TResult, TState, TCallback> run, int index)
        where TCallback : struct, ICallback<TState, TResult>
    {
        run.Phase = RunPhase.Exit;
        run.Index = index;
        run.Frame.Timestamp = 0;
    }

    private static void LeaveStrategy<TResult, TState, TCallback>(ref PipelineRun<TResult, TState, TCallback> run)
        where TCallback : struct, ICallback<TState, TResult>
    {
        run.Frame.Token = Slot(ref run, run.Index).OuterToken;
        run.Index--;
    }

    /// <summary>Judges the current outcome for the strategy at <paramref name="index"/> with that strategy's predicate.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ExitOutcome Judge<TResult, TState, TCallback>(ref PipelineRun<TResult, TState, TCallback> run, int index)
        where TCallback : struct, ICallback<TState, TResult>
    {
        if (run.Outcome.IsRejected)
        {
            return new ExitOutcome(null, run.Outcome.Rejection, isHandled: false, isCallerCancelled: false);
        }

        var exception = run.Outcome.RawException;
        if (exception is OperationCanceledException && run.Frame.CallerToken.IsCancellationRequested)
        {
            return new ExitOutcome(exception, default, isHandled: false, isCallerCancelled: true);
        }

        var predicate = run.Frame.Pipeline.Predicates[index];
        bool handled;
        if (predicate is null)
        {
            handled = exception is not null;
        }
        else if (run.Frame.Pipeline.TypedPredicates)
        {
            // Typed pipelines only execute calls of their own result type, so the predicate's type matches.
            handled = Unsafe.As<Func<Outcome<TResult>, bool>>(predicate)(run.Outcome);
        }
        else
        {
            handled = exception is not null && Unsafe.As<Func<Exception, bool>>(predicate)(exception);
        }

        return new ExitOutcome(exception, default, handled, isCallerCancelled: false);
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
