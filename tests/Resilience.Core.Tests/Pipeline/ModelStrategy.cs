namespace Resilience.Tests.Pipeline;

/// <summary>
/// A strategy that does what its <see cref="ModelStrategyScript"/> says and records each hook in the run's trace, with
/// what it saw, in the words of <see cref="EngineModel"/>. It also checks that its per-call state survives to its exits.
/// </summary>
internal sealed class ModelStrategy : ResilienceStrategy
{
    private readonly ModelStrategyScript _script;
    private readonly ModelRun _run;
    private readonly int _index;
    private readonly object _marker = new();
    private int _enters;
    private int _exits;
    private long _expectedState;
    private object? _expectedStateObject;
    private ModelExit _fallback;
    private int _fallbackVisit;

    public ModelStrategy(int index, ModelStrategyScript script, ModelRun run)
        : base(ModelTokens.StrategyName(index))
    {
        _index = index;
        _script = script;
        _run = run;
        ObservesResults = script.Observe != ModelObserve.None;
    }

    /// <summary>Gets how many times the strategy exited (its predicate runs before the exit it judges for).</summary>
    public int Exits => _exits;

    /// <summary>The name of the pipelines the scenarios run through.</summary>
    public const string PipelineName = "model";

    public static string After(TimeSpan? retryAfter) => retryAfter is { } after ? $" after {after.TotalSeconds}s" : string.Empty;

    public static string Seen(in ExitOutcome outcome) =>
        outcome.IsRejected ? $"rejected by {outcome.Rejection.Strategy!.Name}{After(outcome.RetryAfter)}"
        : outcome.IsCallerCancelled ? $"caller-cancelled {Describe(outcome.Exception!)}"
        : outcome.Exception is { } exception ? $"{(outcome.IsHandled ? "handled" : "unhandled")} {Describe(exception)}"
        : outcome.IsHandled ? "handled result"
        : outcome.IsSuccess ? "success"
        : "inconsistent";

    public static string Describe(Exception exception) =>
        exception is ResilienceRejectedException rejected
            ? $"rejected by {rejected.StrategyName}{After(rejected.RetryAfter)}{(rejected.PipelineName == PipelineName ? string.Empty : " !pipeline")}"
            : $"{exception.GetType().Name} {exception.Message}";

    public static string Describe<TResult>(in Outcome<TResult> outcome) =>
        outcome.IsRejected ? $"rejected by {outcome.Rejection.Strategy!.Name}{After(outcome.Rejection.RetryAfter)}"
        : outcome.IsSuccess ? $"result {(outcome.Result is ModelValue value ? value.Name : "ok")}"
        : Describe(outcome.Exception!);

    protected internal override Entry Enter(ref StrategyContext context)
    {
        var visit = _enters++;
        var step = _script.Enters[Math.Min(visit, _script.Enters.Length - 1)];
        _run.Add($"enter {Name}#{visit} tok={_run.Tokens.NameOf(context.CancellationToken)}");
        if (step.ReplaceToken)
        {
            context.CancellationToken = _run.Tokens.Token(Name);
        }

        _expectedState = 1000 + visit;
        context.State = _expectedState;
        _expectedStateObject = step.Kind is ModelEnter.AdmitWithState or ModelEnter.PendingAdmitLater ? _marker : null;
        return step.Kind switch
        {
            ModelEnter.Admit => Entry.Admitted,
            ModelEnter.AdmitWithState => Entry.Admit(_marker),
            ModelEnter.Reject => Entry.Reject(RejectionReason.Custom, TimeSpan.FromSeconds(_index + 1)),
            ModelEnter.Throw => throw _run.Raise(new FormatException($"enter {Name}#{visit}")),
            ModelEnter.PendingAdmitNow => Entry.Pending(Task.FromResult(Entry.Admitted)),
            ModelEnter.PendingAdmitLater => Entry.Pending(ModelRun.Later(Entry.Admit(_marker))),
            ModelEnter.PendingRejectLater => Entry.Pending(ModelRun.Later(Entry.Reject(RejectionReason.Custom))),
            ModelEnter.PendingFaultNow => Entry.Pending(Task.FromException<Entry>(_run.Raise(new InvalidDataException($"admission {Name}#{visit}")))),
            ModelEnter.PendingFaultLater => Entry.Pending(ModelRun.FaultLater<Entry>(_run.Raise(new InvalidDataException($"admission {Name}#{visit}")))),
            ModelEnter.PendingCancelled => Entry.Pending(Task.FromCanceled<Entry>(new CancellationToken(canceled: true))),
            _ => Entry.Pending(Task.FromResult(Entry.Pending(Task.FromResult(Entry.Admitted)))),
        };
    }

    protected internal override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome)
    {
        var visit = _exits++;
        var step = _script.Exits[Math.Min(visit, _script.Exits.Length - 1)];
        var intact = context.State == _expectedState && ReferenceEquals(context.StateObject, _expectedStateObject);
        _run.Add($"exit {Name}#{visit} {Seen(in outcome)} tok={_run.Tokens.NameOf(context.CancellationToken)}{(intact ? string.Empty : " !state")}");
        if (step.ReplaceToken)
        {
            context.CancellationToken = _run.Tokens.Token(ModelTokens.ExitName(_index));
        }

        switch (step.Kind)
        {
            case ModelExit.Continue:
                return ExitAction.Continue;
            case ModelExit.RetryNow:
                return ExitAction.Retry(TimeSpan.Zero);
            case ModelExit.RetryAfterDelay:
                return ExitAction.Retry(TimeSpan.FromMilliseconds(1));
            case ModelExit.Fail:
                return ExitAction.Fail(_run.Raise(new TimeoutException($"fail {Name}#{visit}")));
            case ModelExit.Throw:
                throw _run.Raise(new ArithmeticException($"exit {Name}#{visit}"));
            default:
                _fallback = step.Kind;
                _fallbackVisit = visit;
                return ExitAction.Fallback;
        }
    }

    protected internal override void ObserveResult<TResult, TState>(TResult result, TState state)
    {
        _run.Add($"observe {Name} result {(result is ModelValue value ? value.Name : "ok")}");
        if (_script.Observe == ModelObserve.Throw)
        {
            throw _run.Raise(new NotImplementedException($"observe {Name}#{_exits}"));
        }
    }

    protected internal override ValueTask<Outcome<TResult>> ProvideFallbackAsync<TResult, TState>(
        Outcome<TResult> outcome, TState state, string? pipelineName, CancellationToken cancellationToken)
    {
        var visit = _fallbackVisit;
        _run.Add($"fallback {Name}#{visit} {Describe(in outcome)} tok={_run.Tokens.NameOf(cancellationToken)}{(pipelineName == PipelineName ? string.Empty : " !pipeline")}");
        var served = Outcome.FromResult(typeof(TResult) == typeof(ModelValue) ? (TResult)(object)new ModelValue($"fb {Name}#{visit}", _run) : default!);
        return _fallback switch
        {
            ModelExit.FallbackNow => new ValueTask<Outcome<TResult>>(served),
            ModelExit.FallbackLater => new ValueTask<Outcome<TResult>>(ModelRun.Later(served)),
            ModelExit.FallbackThrows => throw _run.Raise(new KeyNotFoundException($"fallback {Name}#{visit}")),
            _ => new ValueTask<Outcome<TResult>>(ModelRun.FaultLater<Outcome<TResult>>(_run.Raise(new EndOfStreamException($"fallback {Name}#{visit}")))),
        };
    }
}
