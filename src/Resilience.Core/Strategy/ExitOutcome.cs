using System.Runtime.CompilerServices;

namespace Resilience;

/// <summary>The outcome of the inner part of a call, as judged for one strategy.</summary>
public readonly struct ExitOutcome
{
    private const long Handled = 1;
    private const long CallerCancelled = 2;

    private const int HintShift = 2;

    // A hint in the past means now, as a rejection's does; one too long to hold (70,000 years) is kept as the longest
    // that fits, which still ends any retry (dropping it would let a retry go on with its own, shorter delay).
    private const long MaxHintTicks = (long.MaxValue >> HintShift) - 1;

    // Two words: _error is the exception or, for a rejection, the rejecting strategy's source; _bits is the negated
    // packed rejection (< 0) for a rejection, otherwise the flags above and, above them, a handled failure's
    // retry-after hint in ticks plus one (0: none).
    private readonly object? _error;
    private readonly long _bits;

    /// <summary>A result no predicate judged: a success. Shared, so that passing it costs a call no store.</summary>
    internal static readonly ExitOutcome Passed;

    internal ExitOutcome(Exception? exception, bool isHandled, bool isCallerCancelled, TimeSpan? retryAfter = null)
    {
        _error = exception;
        _bits = (isHandled ? Handled : 0) | (isCallerCancelled ? CallerCancelled : 0)
            | (retryAfter is { } hint ? (Math.Clamp(hint.Ticks, 0, MaxHintTicks) + 1) << HintShift : 0);
    }

    internal ExitOutcome(in Rejection rejection)
    {
        _error = rejection.Source;
        _bits = -rejection.Packed;
    }

    /// <summary>Gets the exception the inner part raised; <see langword="null"/> for a result or a rejection.</summary>
    public Exception? Exception => _bits >= 0 ? Unsafe.As<Exception>(_error) : null;

    /// <summary>Gets the rejection by an inner strategy, when <see cref="IsRejected"/>.</summary>
    public Rejection Rejection => _bits < 0 ? new Rejection(Unsafe.As<RejectionSource>(_error!), -_bits) : default;

    /// <summary>Gets whether an inner strategy refused the call. Predicates do not judge rejections: each strategy decides what one means to it.</summary>
    public bool IsRejected => _bits < 0;

    /// <summary>Gets whether this strategy's predicate judged the outcome a failure. Never true for caller cancellation or a rejection.</summary>
    public bool IsHandled => _bits > 0 && (_bits & Handled) != 0;

    /// <summary>Gets whether the caller's own token was cancelled and the call ended with <see cref="OperationCanceledException"/>: neither success nor failure.</summary>
    public bool IsCallerCancelled => _bits > 0 && (_bits & CallerCancelled) != 0;

    /// <summary>
    /// Gets how long the caller should wait before trying again, when known: a rejection's retry-after, or the hint the
    /// pipeline's retry-after reader found in a handled failure (see <c>RetryAfterHint</c> on the pipeline builders).
    /// </summary>
    public TimeSpan? RetryAfter => _bits < 0 ? Rejection.RetryAfter
        : (_bits >> HintShift) is var ticks && ticks > 0 ? new TimeSpan(ticks - 1) : null;

    /// <summary>Gets whether the inner part produced a result that is not a failure.</summary>
    public bool IsSuccess => _bits == 0 && _error is null;
}
