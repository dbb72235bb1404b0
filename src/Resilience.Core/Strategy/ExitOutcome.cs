namespace Resilience;

/// <summary>The outcome of the inner part of a call, as judged for one strategy.</summary>
public readonly struct ExitOutcome
{
    internal ExitOutcome(Exception? exception, in Rejection rejection, bool isHandled, bool isCallerCancelled)
    {
        Exception = exception;
        Rejection = rejection;
        IsHandled = isHandled;
        IsCallerCancelled = isCallerCancelled;
    }

    /// <summary>Gets the exception the inner part raised; <see langword="null"/> for a result or a rejection.</summary>
    public Exception? Exception { get; }

    /// <summary>Gets the rejection by an inner strategy, when <see cref="IsRejected"/>.</summary>
    public Rejection Rejection { get; }

    /// <summary>Gets whether an inner strategy refused the call. Predicates do not judge rejections: each strategy decides what one means to it.</summary>
    public bool IsRejected => Rejection.Strategy is not null;

    /// <summary>Gets whether this strategy's predicate judged the outcome a failure. Never true for caller cancellation or a rejection.</summary>
    public bool IsHandled { get; }

    /// <summary>Gets whether the caller's own token was cancelled and the call ended with <see cref="OperationCanceledException"/>: neither success nor failure.</summary>
    public bool IsCallerCancelled { get; }

    /// <summary>Gets whether the inner part produced a result (or an exception the predicate does not handle) that is not a failure.</summary>
    public bool IsSuccess => !IsHandled && !IsCallerCancelled && !IsRejected && Exception is null;
}
