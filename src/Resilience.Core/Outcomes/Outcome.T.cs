using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
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
    // Three words at most: the result, then either the exception or (for a rejection) the rejecting strategy's
    // source, and a word that is positive for a rejection (its packed details), negative for a result served by
    // fallback level n (-(n + 1)), and zero otherwise.
    private readonly T? _result;
    private readonly object? _error;
    private readonly long _rejection;

    internal Outcome(T result)
    {
        _result = result;
    }

    internal Outcome(Exception exception)
    {
        _error = exception;
    }

    internal Outcome(in Rejection rejection)
    {
        _error = rejection.Source;
        _rejection = rejection.Packed;
    }

    internal Outcome(T result, int fallbackLevel)
    {
        _result = result;
        _rejection = -(fallbackLevel + 1L);
    }

    /// <summary>Gets the exception without materialising a rejection.</summary>
    internal Exception? RawException => _rejection <= 0 ? Unsafe.As<Exception>(_error) : null;

    /// <summary>Gets the result; <see langword="default"/> unless <see cref="IsSuccess"/>.</summary>
    public T? Result => _result;

    /// <summary>
    /// Gets the failure: the exception the call raised, or for a rejection a new rejection exception
    /// (created on each read). <see langword="null"/> on success.
    /// </summary>
    public Exception? Exception => IsRejected ? Rejection.ToException() : Unsafe.As<Exception>(_error);

    /// <summary>Gets whether the call produced a result (a result a strategy judged a failure is still a result).</summary>
    public bool IsSuccess => _error is null;

    /// <summary>Gets whether a strategy refused to run the call.</summary>
    public bool IsRejected => _rejection > 0;

    /// <summary>Gets the index of the fallback level that served the result, or <see langword="null"/> when the primary call did.</summary>
    public int? FallbackLevel => _rejection < 0 ? (int)(-_rejection - 1) : null;

    /// <summary>Gets the rejection; its <see cref="Rejection.Strategy"/> is <see langword="null"/> unless <see cref="IsRejected"/>.</summary>
    public Rejection Rejection => _rejection > 0 ? new Rejection(Unsafe.As<RejectionSource>(_error!), _rejection) : default;

    /// <summary>Returns the result, or throws the failure (preserving its stack trace) or the rejection exception.</summary>
    /// <returns>The result.</returns>
    public T GetResultOrThrow()
    {
        // The throwing paths are out of line: inlined into a caller, their locals (a rejection, its exception) would
        // be part of the caller's frame, which the runtime zeroes on every call.
        if (_error is not null)
        {
            ThrowFailure();
        }

        return _result!;
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowFailure()
    {
        if (IsRejected)
        {
            throw Rejection.ToException();
        }

        ExceptionDispatchInfo.Throw(Unsafe.As<Exception>(_error!));
    }

    /// <inheritdoc />
    public override string ToString() =>
        IsRejected ? $"Rejected: {Rejection.Reason} by {Rejection.Strategy!.Name}"
        : _error is Exception exception ? $"Exception: {exception.GetType().Name}: {exception.Message}"
        : $"Result: {_result}";
}
