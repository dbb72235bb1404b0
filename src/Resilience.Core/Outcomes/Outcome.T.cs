using System.Runtime.ExceptionServices;

namespace Resilience;

/// <summary>
/// What a call through a pipeline produced: a result, an exception, or a rejection by a strategy.
/// </summary>
/// <typeparam name="T">The result type.</typeparam>
/// <remarks>
/// The non-throwing execution forms return this value so that failures and rejections on hot paths cost no
/// thrown exception. A rejection holds no exception object until <see cref="Exception"/> is read.
/// </remarks>
public readonly struct Outcome<T>
{
    private readonly T? _result;
    private readonly Exception? _exception;
    private readonly Rejection _rejection;

    internal Outcome(T result)
    {
        _result = result;
    }

    internal Outcome(Exception exception)
    {
        _exception = exception;
    }

    internal Outcome(in Rejection rejection)
    {
        _rejection = rejection;
    }

    /// <summary>Gets the exception without materialising a rejection.</summary>
    internal Exception? RawException => _exception;

    /// <summary>Gets the result; <see langword="default"/> unless <see cref="IsSuccess"/>.</summary>
    public T? Result => _result;

    /// <summary>
    /// Gets the failure: the exception the call raised, or for a rejection a new rejection exception
    /// (created on each read). <see langword="null"/> on success.
    /// </summary>
    public Exception? Exception => _exception ?? (IsRejected ? _rejection.ToException() : null);

    /// <summary>Gets whether the call produced a result (a result a strategy judged a failure is still a result).</summary>
    public bool IsSuccess => _exception is null && !IsRejected;

    /// <summary>Gets whether a strategy refused to run the call.</summary>
    public bool IsRejected => _rejection.Strategy is not null;

    /// <summary>Gets the rejection; its <see cref="Rejection.Strategy"/> is <see langword="null"/> unless <see cref="IsRejected"/>.</summary>
    public Rejection Rejection => _rejection;

    /// <summary>Returns the result, or throws the failure (preserving its stack trace) or the rejection exception.</summary>
    /// <returns>The result.</returns>
    public T GetResultOrThrow()
    {
        if (_exception is not null)
        {
            ExceptionDispatchInfo.Throw(_exception);
        }

        if (IsRejected)
        {
            throw _rejection.ToException();
        }

        return _result!;
    }

    /// <inheritdoc />
    public override string ToString() =>
        _exception is not null ? $"Exception: {_exception.GetType().Name}: {_exception.Message}"
        : IsRejected ? $"Rejected: {_rejection.Reason} by {_rejection.Strategy!.Name}"
        : $"Result: {_result}";
}
