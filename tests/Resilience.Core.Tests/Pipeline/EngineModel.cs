namespace Resilience.Tests.Pipeline;

/// <summary>
/// A reference interpreter of the engine's documented semantics (docs/architecture.md), written as plain recursion: a
/// strategy enters, runs what is inside it (the strategies after it and the callback), is judged and exits, and its
/// exit decides what happens next. It produces the trace the scripted strategies and callbacks of
/// <see cref="EngineModelTests"/> record when the engine runs the same <see cref="ModelScenario"/>: every hook with what
/// it saw (outcome, token), every callback attempt, and the final outcome.
/// </summary>
internal sealed class EngineModel
{
    private readonly ModelScenario _scenario;
    private readonly bool _typed;
    private readonly bool _void;
    private readonly bool _singleAttempt;
    private readonly bool _withoutRetries;
    private readonly List<string> _trace = [];
    private readonly int[] _enters;
    private readonly int[] _exits;
    private int _attempts;
    private int? _firstWait;
    private bool _callerCancelled;

    private EngineModel(ModelScenario scenario, bool typed, bool isVoid, bool singleAttempt, bool withoutRetries)
    {
        _singleAttempt = singleAttempt;
        _withoutRetries = withoutRetries;
        _scenario = scenario;
        _typed = typed;
        _void = isVoid;
        _enters = new int[scenario.Strategies.Length];
        _exits = new int[scenario.Strategies.Length];
        _callerCancelled = scenario.CancelledAtStart;
    }

    /// <summary>
    /// The trace the engine must produce for <paramref name="scenario"/>, and how many of its lines come before the call
    /// first waits for something (an admission, a callback, a retry's delay or a fallback that completes later): the
    /// asynchronous forms run those on the caller's thread, and the synchronous forms run every line there.
    /// </summary>
    /// <param name="scenario">The strategies' scripts and the callback's.</param>
    /// <param name="typed">Whether the pipeline is typed (its predicates see results too).</param>
    /// <param name="isVoid">Whether the callback returns nothing (results are then described as "ok").</param>
    /// <param name="singleAttempt">Whether the call is one attempt by nature: a retry or fallback asked for is not taken.</param>
    /// <param name="withoutRetries">Whether the call must not be repeated: a retry asked for is not taken.</param>
    public static (IReadOnlyList<string> Trace, int BeforeWaiting) Expect(ModelScenario scenario, bool typed, bool isVoid, bool singleAttempt, bool withoutRetries = false)
    {
        var model = new EngineModel(scenario, typed, isVoid, singleAttempt, withoutRetries);

        // A caller that cancelled before the call started: no strategy enters, and nothing runs.
        var outcome = scenario.CancelledAtStart ? CancelledByCaller() : model.Through(0, ModelTokens.Caller);
        model._trace.Add($"=> {model.Describe(outcome)}");
        return (model._trace, model._firstWait ?? model._trace.Count);
    }

    /// <summary>The call waits here for something that completes on another thread.</summary>
    private void Wait() => _firstWait ??= _trace.Count;

    /// <summary>Runs the strategies from <paramref name="index"/> inward, and the callback, with <paramref name="token"/> in force.</summary>
    private Result Through(int index, string token)
    {
        if (index == _scenario.Strategies.Length)
        {
            return Call(token);
        }

        var name = ModelTokens.StrategyName(index);
        var script = _scenario.Strategies[index];
        var visit = _enters[index]++;
        var step = script.Enters[Math.Min(visit, script.Enters.Length - 1)];
        _trace.Add($"enter {name}#{visit} tok={token}");

        // A token replaced while entering is passed inward; whatever the entry, the outer one is in force again outside.
        var inward = step.ReplaceToken ? name : token;
        if (step.Kind is ModelEnter.PendingAdmitLater or ModelEnter.PendingRejectLater or ModelEnter.PendingFaultLater)
        {
            Wait();
        }

        switch (step.Kind)
        {
            case ModelEnter.Reject:
                // A rejection carries its retry-after to every strategy outside and to the caller.
                return Result.Rejected($"{name} after {index + 1}s");
            case ModelEnter.PendingRejectLater:
                return Result.Rejected(name);
            case ModelEnter.Throw:
                return Result.Failed(nameof(FormatException), $"enter {name}#{visit}");
            case ModelEnter.PendingFaultNow or ModelEnter.PendingFaultLater:
                return Result.Failed(nameof(InvalidDataException), $"admission {name}#{visit}");
            case ModelEnter.PendingCancelled:
                return Result.Failed(nameof(TaskCanceledException), new TaskCanceledException().Message);
            case ModelEnter.PendingPending:
                return Result.Failed(nameof(InvalidOperationException), $"Strategy '{name}' completed a pending entry with another pending entry.");
        }

        // An admission awaited once the caller has cancelled starts no attempt: the strategy that admitted the call exits
        // on the caller's cancellation.
        var outcome = step.Kind is ModelEnter.PendingAdmitNow or ModelEnter.PendingAdmitLater && _callerCancelled
            ? CancelledByCaller()
            : Through(index + 1, inward);
        while (true)
        {
            var exitVisit = _exits[index];
            var seen = Judge(index, exitVisit, ref outcome);
            _exits[index]++;
            var exit = script.Exits[Math.Min(exitVisit, script.Exits.Length - 1)];
            _trace.Add($"exit {name}#{exitVisit} {seen} tok={inward}");
            if (exit.ReplaceToken)
            {
                // Passed inward on a retry; the outer token is restored once the strategy is left.
                inward = ModelTokens.ExitName(index);
            }

            switch (exit.Kind)
            {
                case ModelExit.Continue:
                    return outcome;
                case not (ModelExit.Fail or ModelExit.Throw) when _singleAttempt:
                    // A call that is one attempt can be neither repeated nor replaced: its outcome passes on.
                    return outcome;
                case ModelExit.RetryNow or ModelExit.RetryAfterDelay when _withoutRetries:
                    // A call that must not be repeated is not: its outcome passes on.
                    return outcome;
                case ModelExit.Fail:
                    Discard(outcome);
                    return Result.Failed(nameof(TimeoutException), $"fail {name}#{exitVisit}");
                case ModelExit.Throw:
                    Discard(outcome);
                    return Result.Failed(nameof(ArithmeticException), $"exit {name}#{exitVisit}");
                case ModelExit.RetryNow or ModelExit.RetryAfterDelay when _callerCancelled:
                    // No attempt starts once the caller has cancelled: the strategy exits again on the caller's
                    // cancellation, without waiting for the delay.
                    Discard(outcome);
                    outcome = CancelledByCaller();
                    break;
                case ModelExit.RetryNow:
                    Discard(outcome);
                    outcome = Through(index + 1, inward);
                    break;
                case ModelExit.RetryAfterDelay:
                    Discard(outcome);
                    Wait();
                    outcome = Through(index + 1, inward);
                    break;
                default:
                    // The fallback runs outside the strategy, with the token in force there, and replaces the outcome.
                    _trace.Add($"fallback {name}#{exitVisit} {Describe(outcome)} tok={token}");
                    if (exit.Kind is ModelExit.FallbackLater or ModelExit.FallbackFaultsLater)
                    {
                        Wait();
                    }

                    Discard(outcome);
                    return exit.Kind switch
                    {
                        ModelExit.FallbackNow or ModelExit.FallbackLater => Result.ServedBy($"fb {name}#{exitVisit}"),
                        ModelExit.FallbackThrows => Result.Failed(nameof(KeyNotFoundException), $"fallback {name}#{exitVisit}"),
                        _ => Result.Failed(nameof(EndOfStreamException), $"fallback {name}#{exitVisit}"),
                    };
            }
        }
    }

    private Result Call(string token)
    {
        var attempt = _attempts++;
        var kind = _scenario.Calls[Math.Min(attempt, _scenario.Calls.Length - 1)];
        _trace.Add($"call#{attempt} tok={token}");
        if (kind is ModelCall.AsyncLaterOnPool or ModelCall.AsyncLaterBySource or ModelCall.AsyncFaultLater or ModelCall.CancelCaller or ModelCall.ForeignCancel)
        {
            Wait();
        }

        switch (kind)
        {
            case ModelCall.SyncThrow or ModelCall.AsyncFaultLater:
                return Result.Failed(nameof(IOException), $"call#{attempt}");
            case ModelCall.CancelCaller:
                _callerCancelled = true;
                return Result.Failed(nameof(OperationCanceledException), $"cancel#{attempt}");
            case ModelCall.ObserveToken when IsCancelled(token):
                return Result.Failed(nameof(OperationCanceledException), $"observe#{attempt}");
            case ModelCall.ForeignCancel:
                return Result.Failed(nameof(OperationCanceledException), $"foreign#{attempt}");
            default:
                return Result.Succeeded($"r{attempt}");
        }
    }

    /// <summary>The outcome the engine makes of the caller's cancellation where it stops a call: the caller's token, cancelled.</summary>
    private static Result CancelledByCaller() => Result.Failed(nameof(OperationCanceledException), new OperationCanceledException().Message);

    /// <summary>Only the caller's token is ever cancelled (by a callback); the strategies' own tokens never are.</summary>
    private bool IsCancelled(string token) => token == ModelTokens.Caller && _callerCancelled;

    /// <summary>
    /// Judges <paramref name="outcome"/> for the strategy at <paramref name="index"/>: rejections are not judged; an
    /// <see cref="OperationCanceledException"/> while the caller's token is cancelled is the caller's, never a failure;
    /// otherwise the predicate decides (a typed one sees results too), and one that throws replaces the outcome, which
    /// its strategy sees unhandled.
    /// </summary>
    private string Judge(int index, int exitVisit, ref Result outcome)
    {
        if (outcome.RejectedBy is { } rejecter)
        {
            return $"rejected by {rejecter}";
        }

        var failed = outcome.Error is not null;
        if (failed && outcome.Error is nameof(OperationCanceledException) or nameof(TaskCanceledException) && _callerCancelled)
        {
            return $"caller-cancelled {outcome.Error} {outcome.Message}";
        }

        // A typed predicate sees results and exceptions, an untyped one only exceptions.
        if (_scenario.Strategies[index].Judge != ModelJudge.Default && (_typed || failed))
        {
            _trace.Add($"judge {ModelTokens.StrategyName(index)} {Describe(outcome)}");
        }

        bool handled;
        switch (_scenario.Strategies[index].Judge)
        {
            case ModelJudge.HandleAll:
                handled = _typed || failed;
                break;
            case ModelJudge.HandleNone:
                handled = false;
                break;
            case ModelJudge.Throw when _typed || failed:
                Discard(outcome);
                outcome = Result.Failed(nameof(NotSupportedException), $"judge {ModelTokens.StrategyName(index)}#{exitVisit}");
                return $"unhandled {outcome.Error} {outcome.Message}";
            case ModelJudge.Throw:
                handled = false;
                break;
            default:
                handled = failed;
                break;
        }

        if (failed || handled)
        {
            return failed ? $"{(handled ? "handled" : "unhandled")} {outcome.Error} {outcome.Message}" : "handled result";
        }

        // A successful result the call produced (not one a fallback served) is shown to a strategy that observes results,
        // before its exit; a look that throws replaces the outcome as a throwing predicate does, and the strategy exits
        // on it, unhandled.
        switch (outcome.Served ? ModelObserve.None : _scenario.Strategies[index].Observe)
        {
            case ModelObserve.Observe:
                _trace.Add($"observe {ModelTokens.StrategyName(index)} {Describe(outcome)}");
                break;
            case ModelObserve.Throw:
                _trace.Add($"observe {ModelTokens.StrategyName(index)} {Describe(outcome)}");
                Discard(outcome);
                outcome = Result.Failed(nameof(NotImplementedException), $"observe {ModelTokens.StrategyName(index)}#{exitVisit}");
                return $"unhandled {outcome.Error} {outcome.Message}";
        }

        return "success";
    }

    /// <summary>A result no caller will see (replaced, or discarded by a retry) is disposed as it is dropped.</summary>
    private void Discard(Result outcome)
    {
        if (!_void && outcome.Error is null && outcome.RejectedBy is null)
        {
            _trace.Add($"dispose {outcome.Message}");
        }
    }

    private string Describe(Result outcome) =>
        outcome.RejectedBy is { } rejecter ? $"rejected by {rejecter}"
        : outcome.Error is { } error ? $"{error} {outcome.Message}"
        : $"result {(_void ? "ok" : outcome.Message)}";

    /// <summary>An outcome as the model sees it: a result, an exception (type and message) or a rejection.</summary>
    private readonly record struct Result(string? Error, string Message, string? RejectedBy, bool Served = false)
    {
        public static Result Succeeded(string value) => new(null, value, null);

        /// <summary>A result a fallback served: no strategy outside observes it as what the call produced.</summary>
        public static Result ServedBy(string value) => new(null, value, null, Served: true);

        public static Result Failed(string type, string message) => new(type, message, null);

        public static Result Rejected(string strategy) => new(null, string.Empty, strategy);
    }
}
